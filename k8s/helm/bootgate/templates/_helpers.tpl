{{/*
Internal helpers of the bootgate library chart. The templates meant for other charts are in
_bootgate.tpl; docs/helm.md describes them.
*/}}

{{/*
bootgate.appVersion: the bootgate release the default image tag points at. Keep it equal to
appVersion in this chart's Chart.yaml (the packaging tests compare them).
*/}}
{{- define "bootgate.appVersion" -}}
0.1.0
{{- end -}}

{{/*
bootgate.settings: the settings every public template shares, resolved once from its argument
and the values, as JSON (a template can only return text). The argument is the including
chart's top-level context, or a dict with `root` (that context) and optionally `values` (the
bootgate values, by default root.Values.bootgate).
*/}}
{{- define "bootgate.settings" -}}
{{- $root := . -}}
{{- if hasKey . "root" -}}
{{-   $root = .root -}}
{{- end -}}
{{- $v := dict -}}
{{- if hasKey . "values" -}}
{{-   $v = .values | default dict -}}
{{- else if hasKey $root.Values "bootgate" -}}
{{-   $v = get $root.Values "bootgate" | default dict -}}
{{- end -}}
{{- $enabled := true -}}
{{- if hasKey $v "enabled" -}}
{{-   if not (kindIs "bool" $v.enabled) -}}
{{-     fail (printf "bootgate.enabled must be true or false, not %v" $v.enabled) -}}
{{-   end -}}
{{-   $enabled = $v.enabled -}}
{{- end -}}
{{- $native := true -}}
{{- if hasKey $v "nativeSidecar" -}}
{{-   if not (kindIs "bool" $v.nativeSidecar) -}}
{{-     fail (printf "bootgate.nativeSidecar must be true or false, not %v" $v.nativeSidecar) -}}
{{-   end -}}
{{-   $native = $v.nativeSidecar -}}
{{- end -}}
{{- $image := $v.image | default dict -}}
{{- $repository := $image.repository | default "ghcr.io/bootgate/bootgate" -}}
{{- $tag := toString ($image.tag | default (include "bootgate.appVersion" .)) -}}
{{- $reference := printf "%s:%s" $repository $tag -}}
{{- with $image.digest -}}
{{-   $reference = printf "%s@%s" $repository . -}}
{{- end -}}
{{- $config := $v.config | default dict -}}
{{- if not (kindIs "map" $config) -}}
{{-   fail "bootgate.config must be a YAML object: the bootgate config itself" -}}
{{- end -}}
{{- /* Helm keeps the nulls of values under a dependency's own name (bootgate): drop them
       here, so that `null` removes a key as it does elsewhere. */ -}}
{{- $config = include "bootgate.withoutNulls" $config | fromJson -}}
{{- if and $enabled (not $config) -}}
{{-   fail "bootgate.config is empty: set it to the bootgate config (checks, listen, sentinel), or set bootgate.enabled to false" -}}
{{- end -}}
{{- $stateDir := toString ($config.state_dir | default "/run/bootgate") | trimSuffix "/" -}}
{{- if not (hasPrefix "/" $stateDir) -}}
{{-   fail (printf "bootgate.config.state_dir must be an absolute path, not %q" $stateDir) -}}
{{- end -}}
{{- $listen := toString ($config.listen | default "[::]:8081") -}}
{{- $port := regexFind "[0-9]+$" $listen -}}
{{- if not $port -}}
{{-   fail (printf "bootgate.config.listen %q names no port" $listen) -}}
{{- end -}}
{{- $modelLiveness := include "bootgate.modelLiveness" (dict "values" ($v.modelLiveness | default dict) "config" $config "enabled" $enabled) | fromJson -}}
{{- $configText := toYaml $config -}}
{{- $fullname := include "bootgate.parentFullname" $root -}}
{{- $init := $v.init | default dict -}}
{{- $sidecar := $v.sidecar | default dict -}}
{{- $initResources := $init.resources | default (dict "requests" (dict "cpu" "1" "memory" "64Mi") "limits" (dict "cpu" "1" "memory" "256Mi")) -}}
{{- $sidecarResources := $sidecar.resources | default (dict "requests" (dict "cpu" "10m" "memory" "16Mi") "limits" (dict "cpu" "100m" "memory" "64Mi")) -}}
{{- $labels := dict
      "helm.sh/chart" (printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-")
      "app.kubernetes.io/name" "bootgate"
      "app.kubernetes.io/instance" $root.Release.Name
      "app.kubernetes.io/part-of" $root.Chart.Name
      "app.kubernetes.io/managed-by" $root.Release.Service -}}
{{- dict
      "enabled" $enabled
      "native" $native
      "image" $reference
      "pullPolicy" ($image.pullPolicy | default "IfNotPresent")
      "configMapName" ($v.configMapName | default (printf "%s-bootgate" $fullname))
      "configDir" "/etc/bootgate"
      "configPath" "/etc/bootgate/bootgate.yaml"
      "configText" $configText
      "checksum" (sha256sum $configText)
      "stateDir" $stateDir
      "stateSizeLimit" ($v.stateSizeLimit | default "16Mi")
      "port" (atoi $port)
      "env" ($v.env | default list)
      "initResources" $initResources
      "sidecarResources" $sidecarResources
      "modelLiveness" $modelLiveness
      "labels" $labels
    | toJson -}}
{{- end -}}

{{/*
bootgate.modelLiveness: the server's livenessProbe settings, with their defaults, as JSON.
Turned on, the probe needs a sentinel to judge the model by, and a dead_after that is not off:
without them /livez/model could never fail, and the probe would only pretend to guard the server.
*/}}
{{- define "bootgate.modelLiveness" -}}
{{- $v := .values -}}
{{- $enabled := false -}}
{{- if hasKey $v "enabled" -}}
{{-   if not (kindIs "bool" $v.enabled) -}}
{{-     fail (printf "bootgate.modelLiveness.enabled must be true or false, not %v" $v.enabled) -}}
{{-   end -}}
{{-   $enabled = $v.enabled -}}
{{- end -}}
{{- if and .enabled $enabled -}}
{{-   $sentinel := .config.sentinel | default dict -}}
{{-   if not (kindIs "map" $sentinel) -}}
{{-     fail "bootgate.config.sentinel must be a YAML object" -}}
{{-   end -}}
{{-   if not (or $sentinel.preset $sentinel.queries) -}}
{{-     fail "bootgate.modelLiveness needs a sentinel with a preset or queries in bootgate.config: /livez/model judges the model by them" -}}
{{-   end -}}
{{-   if eq (toString $sentinel.dead_after) "off" "false" -}}
{{-     fail "bootgate.modelLiveness is on but bootgate.config.sentinel.dead_after is off: /livez/model would never fail; set a window (5m by default) or turn modelLiveness off" -}}
{{-   end -}}
{{- end -}}
{{- $out := dict "enabled" $enabled -}}
{{- range $key, $default := dict "periodSeconds" 10 "timeoutSeconds" 5 "failureThreshold" 3 -}}
{{-   $value := get $v $key -}}
{{-   if or (not (hasKey $v $key)) (kindIs "invalid" $value) -}}
{{-     $value = $default -}}
{{-   end -}}
{{-   if not (regexMatch "^[1-9][0-9]*$" (toString $value)) -}}
{{-     fail (printf "bootgate.modelLiveness.%s must be a whole number of at least 1, not %v" $key $value) -}}
{{-   end -}}
{{-   $_ := set $out $key (int $value) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
bootgate.parentFullname: the including chart's full name, as `helm create` makes it:
fullnameOverride, else the release name (when it contains the chart's name), else
<release>-<chart>; 63 characters at most.
*/}}
{{- define "bootgate.parentFullname" -}}
{{- $fullnameOverride := get .Values "fullnameOverride" -}}
{{- $nameOverride := get .Values "nameOverride" -}}
{{- if $fullnameOverride -}}
{{-   $fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{-   $name := default .Chart.Name $nameOverride -}}
{{-   if contains $name .Release.Name -}}
{{-     .Release.Name | trunc 63 | trimSuffix "-" -}}
{{-   else -}}
{{-     printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{-   end -}}
{{- end -}}
{{- end -}}

{{/*
bootgate.withoutNulls: a map without its null values, at every depth of maps, as JSON.
*/}}
{{- define "bootgate.withoutNulls" -}}
{{- $out := dict -}}
{{- range $key, $value := . -}}
{{-   if kindIs "map" $value -}}
{{-     $_ := set $out $key (include "bootgate.withoutNulls" $value | fromJson) -}}
{{-   else if not (kindIs "invalid" $value) -}}
{{-     $_ := set $out $key $value -}}
{{-   end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
bootgate.params: the optional parameters of a dict argument, as JSON; none for a top-level
context.
*/}}
{{- define "bootgate.params" -}}
{{- if hasKey . "root" -}}
{{-   omit . "root" "values" | toJson -}}
{{- else -}}
{{-   dict | toJson -}}
{{- end -}}
{{- end -}}

{{/*
bootgate.securityContext: what the restricted Pod Security level asks of a container, for the
distroless image's non-root user.
*/}}
{{- define "bootgate.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
bootgate.shellQuote: one word for /bin/sh, quoted only when it needs to be.
*/}}
{{- define "bootgate.shellQuote" -}}
{{- if regexMatch "^[A-Za-z0-9_@%+=:,./-]+$" . -}}
{{-   . -}}
{{- else -}}
'{{ replace "'" "'\\''" . }}'
{{- end -}}
{{- end -}}
