{{/*
The chart's name and full name, as `helm create` makes them.
*/}}
{{- define "example-model-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "example-model-server.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{-   .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{-   $name := default .Chart.Name .Values.nameOverride -}}
{{-   if contains $name .Release.Name -}}
{{-     .Release.Name | trunc 63 | trimSuffix "-" -}}
{{-   else -}}
{{-     printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{-   end -}}
{{- end -}}
{{- end -}}

{{- define "example-model-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "example-model-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "example-model-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "example-model-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
An image reference: repository@digest when a digest is set, else repository:tag.
*/}}
{{- define "example-model-server.image" -}}
{{- if .digest -}}
{{-   printf "%s@%s" .repository .digest -}}
{{- else -}}
{{-   printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/*
The mounts of what the model needs, the same in the server and in the gate, whose checks read
them: the weights and the Hugging Face token.
*/}}
{{- define "example-model-server.modelMounts" -}}
- name: models
  mountPath: {{ .Values.models.mountPath }}
  readOnly: true
- name: hf-token
  mountPath: /var/run/secrets/hf
  readOnly: true
{{- end -}}

{{/*
The server's whole argv.
*/}}
{{- define "example-model-server.command" -}}
{{- $gpus := int .Values.server.gpus -}}
{{- $command := list "vllm" "serve" .Values.server.model
      "--served-model-name" .Values.server.servedModelName
      "--host" "0.0.0.0" "--port" "8000" -}}
{{- if gt $gpus 1 -}}
{{-   $command = concat $command (list "--tensor-parallel-size" (toString $gpus)) -}}
{{- end -}}
{{- concat $command .Values.server.extraArgs | toYaml -}}
{{- end -}}

{{/*
The bootgate values as the library gets them: as given, but a sentinel that uses a preset and
names no model gets server.servedModelName, so the guard asks for the name the server serves.
As JSON (a template can only return text); pass it to the library as `values`.
*/}}
{{- define "example-model-server.bootgate" -}}
{{- $bootgate := deepCopy (.Values.bootgate | default dict) -}}
{{- $config := $bootgate.config -}}
{{- if kindIs "map" $config -}}
{{-   $sentinel := $config.sentinel -}}
{{-   if and (kindIs "map" $sentinel) $sentinel.preset (not $sentinel.model) -}}
{{-     $_ := set $sentinel "model" .Values.server.servedModelName -}}
{{-   end -}}
{{- end -}}
{{- toJson $bootgate -}}
{{- end -}}
