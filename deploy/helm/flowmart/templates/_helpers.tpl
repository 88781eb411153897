{{/* The chart name, or nameOverride. */}}
{{- define "flowmart.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource name: "<release>-<chart>", or the release alone when it already
names the chart. 52 characters at most: a StatefulSet's pods carry a controller-revision-hash label
of its name and a hash, which must fit in 63. */}}
{{- define "flowmart.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "flowmart.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The headless Service: stable pod names in a cluster, and every pod (ready or not) for
Prometheus. */}}
{{- define "flowmart.headlessName" -}}
{{- printf "%s-headless" (include "flowmart.fullname" .) -}}
{{- end -}}

{{- define "flowmart.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flowmart.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flowmart.labels" -}}
{{ include "flowmart.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "flowmart.cluster" -}}
{{- if eq .Values.mode "cluster" -}}
true
{{- else if ne .Values.mode "single" -}}
{{- fail (printf "mode must be single or cluster, not %q" .Values.mode) -}}
{{- end -}}
{{- end -}}

{{/* The Secret the chart creates, for whichever of the secrets no existingSecret names. */}}
{{- define "flowmart.secretName" -}}
{{- include "flowmart.fullname" . -}}
{{- end -}}

{{- define "flowmart.storesAdminToken" -}}
{{- if not .Values.adminToken.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "flowmart.storesDatabaseUrl" -}}
{{- if and .Values.database.url (not .Values.database.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "flowmart.storesSasl" -}}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.sasl.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* The admin token to store: the value, else the one the installed Secret holds (lookup finds
nothing when rendering without a cluster), else a new random one. */}}
{{- define "flowmart.adminToken" -}}
{{- if .Values.adminToken.value -}}
{{- .Values.adminToken.value -}}
{{- else -}}
{{- $installed := lookup "v1" "Secret" .Release.Namespace (include "flowmart.secretName" .) -}}
{{- if and $installed $installed.data (hasKey $installed.data "admin-token") -}}
{{- index $installed.data "admin-token" | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A TOML key: bare when it may be, else quoted (librdkafka's "sasl.mechanism"). */}}
{{- define "flowmart.tomlKey" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{/* The pipeline file (TOML), from the values: the chart's sections, then .Values.pipeline over
them. Values are written with toJson, whose strings, numbers and booleans are valid TOML; sections
nest one level ([kafka.consumer]), as the pipeline file's do. */}}
{{- define "flowmart.pipelineFile" -}}
{{- if hasKey .Values.pipeline "cluster" -}}
{{- fail "pipeline.cluster: the cluster settings come from mode and cluster.processes" -}}
{{- end -}}
{{- $kafka := dict
    "brokers" (required "kafka.brokers is required" .Values.kafka.brokers)
    "schema_registry_url" (required "kafka.schemaRegistryUrl is required" .Values.kafka.schemaRegistryUrl)
    "group_id" .Values.kafka.groupId
    "start" .Values.kafka.start
    "properties" (merge (dict) .Values.kafka.properties)
    "consumer" (merge (dict) .Values.kafka.consumerProperties)
    "producer" (merge (dict) .Values.kafka.producerProperties) -}}
{{- if .Values.kafka.sasl.enabled -}}
{{- $_ := set $kafka "security_protocol" .Values.kafka.sasl.securityProtocol -}}
{{- $_ := set $kafka "sasl_mechanism" .Values.kafka.sasl.mechanism -}}
{{- end -}}
{{- $file := dict "kafka" $kafka "runtime" (dict "workers" (int .Values.workers)) -}}
{{- if include "flowmart.cluster" . -}}
{{- $_ := set $file "cluster" (dict "processes" (int .Values.cluster.processes) "peers" "/etc/flowmart/peers.txt") -}}
{{- end -}}
{{- $file = mergeOverwrite $file (deepCopy .Values.pipeline) -}}
# The pipeline file of `flowmart run` (flowmart/flowmart.toml documents every key), rendered
# from the chart's values. The environment adds the secrets, the listen address and, in a
# cluster, each pod's process index.
{{- range $section, $settings := $file }}
{{- if not (kindIs "map" $settings) }}
{{- fail (printf "pipeline.%s: expected a section of keys" $section) }}
{{- end }}

[{{ include "flowmart.tomlKey" $section }}]
{{- range $key, $value := $settings }}
{{- if not (kindIs "map" $value) }}
{{ include "flowmart.tomlKey" $key }} = {{ $value | toJson }}
{{- end }}
{{- end }}
{{- range $key, $table := $settings }}
{{- if and (kindIs "map" $table) $table }}

[{{ include "flowmart.tomlKey" $section }}.{{ include "flowmart.tomlKey" $key }}]
{{- range $property, $value := $table }}
{{- if kindIs "map" $value }}
{{- fail (printf "pipeline.%s.%s.%s: the pipeline file nests one level only" $section $key $property) }}
{{- end }}
{{ include "flowmart.tomlKey" $property }} = {{ $value | toJson }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Line i: process i's timely address and API URL, by its stable name under the headless
Service. */}}
{{- define "flowmart.peersFile" -}}
{{- $fullname := include "flowmart.fullname" . -}}
{{- $domain := printf "%s.%s.svc" (include "flowmart.headlessName" .) .Release.Namespace -}}
# line i: process i's timely address and API URL (README "Scale out")
{{- range $index := until (int .Values.cluster.processes) }}
{{ $fullname }}-{{ $index }}.{{ $domain }}:{{ $.Values.cluster.timelyPort }} http://{{ $fullname }}-{{ $index }}.{{ $domain }}:{{ $.Values.ports.api }}
{{- end }}
{{- end -}}

{{/* The pod template, the same in both modes but for the cluster's process index and port. */}}
{{- define "flowmart.podTemplate" -}}
{{- $cluster := include "flowmart.cluster" . -}}
metadata:
  labels:
    {{- include "flowmart.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A changed pipeline or peers file is a new pod template, so the pods are replaced.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.serviceAccountName }}
  serviceAccountName: {{ . }}
  {{- end }}
  # flowmart calls no Kubernetes API.
  automountServiceAccountToken: false
  # No <SERVICE>_PORT variables: a Service named flowmart would add FLOWMART_* ones.
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: flowmart
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run"]
      env:
        - name: FLOWMART_CONFIG
          value: /etc/flowmart/flowmart.toml
        - name: FLOWMART_LISTEN
          value: "0.0.0.0:{{ .Values.ports.api }}"
        {{- if $cluster }}
        - name: FLOWMART_PROCESS_INDEX
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
        - name: FLOWMART_ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ .Values.adminToken.existingSecret | default (include "flowmart.secretName" .) }}
              key: {{ ternary .Values.adminToken.existingSecretKey "admin-token" (not (empty .Values.adminToken.existingSecret)) }}
        {{- if or .Values.database.url .Values.database.existingSecret }}
        - name: DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: {{ .Values.database.existingSecret | default (include "flowmart.secretName" .) }}
              key: {{ ternary .Values.database.existingSecretKey "database-url" (not (empty .Values.database.existingSecret)) }}
        {{- end }}
        {{- if .Values.kafka.sasl.enabled }}
        - name: FLOWMART__KAFKA__SASL_USERNAME
          valueFrom:
            secretKeyRef:
              name: {{ .Values.kafka.sasl.existingSecret | default (include "flowmart.secretName" .) }}
              key: {{ ternary .Values.kafka.sasl.usernameKey "sasl-username" (not (empty .Values.kafka.sasl.existingSecret)) }}
        - name: FLOWMART__KAFKA__SASL_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ .Values.kafka.sasl.existingSecret | default (include "flowmart.secretName" .) }}
              key: {{ ternary .Values.kafka.sasl.passwordKey "sasl-password" (not (empty .Values.kafka.sasl.existingSecret)) }}
        {{- end }}
        - name: RUST_LOG
          value: {{ .Values.logFilter | quote }}
        - name: FLOWMART_LOG_FORMAT
          value: {{ .Values.logFormat | quote }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: api
          containerPort: {{ .Values.ports.api }}
        {{- if $cluster }}
        - name: timely
          containerPort: {{ .Values.cluster.timelyPort }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: api
        {{- toYaml .Values.startupProbe | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: api
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: api
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/flowmart
          readOnly: true
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "flowmart.fullname" . }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
