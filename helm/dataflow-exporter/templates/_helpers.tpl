{{/*
Names, labels and the pod template shared by the Deployment and the StatefulSet.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "dataflow-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name, at most 63 characters (the DNS label limit). The release name is
used alone when it already contains the chart name.
*/}}
{{- define "dataflow-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The chart label value: name-version. */}}
{{- define "dataflow-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select this release's pods; they never change after install. */}}
{{- define "dataflow-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dataflow-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels every object of the chart carries. */}}
{{- define "dataflow-exporter.labels" -}}
helm.sh/chart: {{ include "dataflow-exporter.chart" . }}
{{ include "dataflow-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dataflow-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "dataflow-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dataflow-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: a digest wins over a tag; the tag defaults to the appVersion. */}}
{{- define "dataflow-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The HTTP scheme the exporter serves: HTTPS when the web config turns TLS on. */}}
{{- define "dataflow-exporter.scheme" -}}
{{- if and .Values.webConfig.existingSecret .Values.webConfig.tls }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* Where a Secret listed in secretFiles is mounted. */}}
{{- define "dataflow-exporter.secretFileMountPath" -}}
{{- default (printf "/run/secrets/%s" .secretName) .mountPath }}
{{- end }}

{{/* The exporter's config.yaml, rendered from the values tree `config`. */}}
{{- define "dataflow-exporter.config" -}}
{{- /*
Alert settings tuned in prometheusRule.config.alerts reach the exporter's global.alerts too, so
its status page calls broken what the rules alert on; config.global.alerts wins where both set.
*/}}
{{- $config := deepCopy .Values.config }}
{{- $tuned := (default (dict) .Values.prometheusRule.config).alerts }}
{{- if $tuned }}
{{- $global := default (dict) $config.global }}
{{- $_ := set $global "alerts" (mustMergeOverwrite (deepCopy $tuned) (default (dict) $global.alerts)) }}
{{- $_ = set $config "global" $global }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The exporter's command line after the image's ENTRYPOINT. */}}
{{- define "dataflow-exporter.args" -}}
- run
- --config=/etc/dataflow-exporter/config.yaml
- --web.listen-address=:{{ .Values.service.port }}
- --log.level={{ .Values.logLevel }}
- --log.format={{ .Values.logFormat }}
{{- if .Values.webConfig.existingSecret }}
- --web.config.file=/etc/dataflow-exporter/web/{{ .Values.webConfig.key }}
{{- end }}
{{- if .Values.sharding.enabled }}
- --shard.index=hostname
- --shard.count={{ .Values.sharding.replicas }}
{{- end }}
{{- with .Values.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
A probe on one of the exporter's health endpoints. The exporter answers /-/healthy and /-/ready
without basic auth (a kubelet cannot send a password), so the probe is an HTTP GET in every mode.
*/}}
{{- define "dataflow-exporter.probe" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- $settings := index . 2 }}
httpGet:
  path: {{ $path }}
  port: http-metrics
  scheme: {{ include "dataflow-exporter.scheme" $root }}
{{- with $settings }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod template of the Deployment and of the StatefulSet. */}}
{{- define "dataflow-exporter.podTemplate" -}}
metadata:
  labels:
    {{- include "dataflow-exporter.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Rolls the pods whenever the rendered exporter config changes.
    checksum/config: {{ include "dataflow-exporter.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "dataflow-exporter.serviceAccountName" . }}
  # The exporter never talks to the Kubernetes API.
  automountServiceAccountToken: false
  # Service links would add environment variables that `${VAR}` references could pick up by mistake.
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: exporter
      image: {{ include "dataflow-exporter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        {{- include "dataflow-exporter.args" . | nindent 8 }}
      ports:
        - name: http-metrics
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      {{- if or .Values.secretEnv .Values.extraEnv }}
      env:
        {{- range .Values.secretEnv }}
        - name: {{ .name }}
          valueFrom:
            secretKeyRef:
              name: {{ .secretName }}
              key: {{ .key }}
              {{- if hasKey . "optional" }}
              optional: {{ .optional }}
              {{- end }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      livenessProbe:
        {{- include "dataflow-exporter.probe" (list . "/-/healthy" .Values.livenessProbe) | trim | nindent 8 }}
      readinessProbe:
        {{- include "dataflow-exporter.probe" (list . "/-/ready" .Values.readinessProbe) | trim | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/dataflow-exporter/config.yaml
          subPath: config.yaml
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if .Values.webConfig.existingSecret }}
        - name: web-config
          mountPath: /etc/dataflow-exporter/web
          readOnly: true
        {{- end }}
        {{- /* Directory mounts, not subPath, so a rotated Secret reaches the running pod. */}}
        {{- range $i, $secret := .Values.secretFiles }}
        - name: secret-file-{{ $i }}
          mountPath: {{ include "dataflow-exporter.secretFileMountPath" $secret }}
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "dataflow-exporter.fullname" . }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmpSizeLimit }}
    {{- if .Values.webConfig.existingSecret }}
    - name: web-config
      secret:
        secretName: {{ .Values.webConfig.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- range $i, $secret := .Values.secretFiles }}
    - name: secret-file-{{ $i }}
      secret:
        secretName: {{ $secret.secretName }}
        defaultMode: 0440
        {{- with $secret.items }}
        items:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- if hasKey $secret "optional" }}
        optional: {{ $secret.optional }}
        {{- end }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* A label map as `k=v, k=v`, for messages. */}}
{{- define "dataflow-exporter.inlineLabels" -}}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join ", " $pairs }}
{{- end }}
