{{/*
The bootgate library chart: named templates that add bootgate to a model server's pod.
docs/helm.md has a worked example.

Every template takes one argument: either the including chart's top-level context (`.`), or a
dict with
  root    the top-level context (required in a dict);
  values  the bootgate values (optional; by default root.Values.bootgate);
and the parameters listed for that template. Every template renders nothing when
bootgate.enabled is false, except bootgate.command, which then renders the command unchanged;
so the include lines can stay in place and the toggle is a value.

The values, all optional except config:
  enabled         true: add bootgate; false: render the pod as if it were not there.
  nativeSidecar   true: the guard is a native sidecar (an init container with
                  restartPolicy: Always, Kubernetes 1.29+); false: a regular container.
  image           repository (ghcr.io/bootgate/bootgate), tag (this chart's appVersion),
                  digest (sha256:...; when set, repository@digest), pullPolicy (IfNotPresent).
  config          the bootgate config, as a YAML object: written to the ConfigMap's
                  bootgate.yaml. Its state_dir (/run/bootgate) and the port of its listen
                  ([::]:8081) place the state volume and the guard's probes. Keys set
                  to null are left out, as Helm leaves out null values elsewhere.
  configMapName   the ConfigMap's name (<the chart's fullname>-bootgate).
  stateSizeLimit  the state_dir emptyDir's sizeLimit (16Mi).
  init.resources      the gate's resources (requests 1 CPU, 64Mi; limits 1 CPU, 256Mi),
                      without the GPUs, which come from the gpus parameter. An init
                      container's requests do not add to the pod's.
  sidecar.resources   the guard's resources (requests 10m CPU, 16Mi; limits 100m CPU, 64Mi).
  env             EnvVars added to the gate and the guard (for ${VAR}s in the config).
  modelLiveness   enabled (false): give the server a livenessProbe on the guard's
                  /livez/model (bootgate.serverLivenessProbe); periodSeconds (10),
                  timeoutSeconds (5), failureThreshold (3): that probe's settings.
*/}}

{{/*
bootgate.initContainer: the gate, one item for initContainers. A regular init container named
bootgate-init that runs `bootgate init`: the server does not start until every required check
passes. No probes (the API server forbids them on a regular init container).
Parameters:
  gpus          the server's GPU count (0). The gate requests as many, so the kubelet hands it
                the very GPUs the server will get (an init container's devices pass on to the
                app containers).
  gpuResource   the extended resource to request them as (nvidia.com/gpu).
  volumeMounts  extra mounts for what the checks read: the weights, a Secret. Give the gate the
                same mountPaths as the server.
  env           extra EnvVars.
*/}}
{{- define "bootgate.initContainer" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $p := include "bootgate.params" . | fromJson -}}
{{- if $s.enabled -}}
{{- $resources := deepCopy $s.initResources -}}
{{- $gpus := int ($p.gpus | default 0) -}}
{{- if gt $gpus 0 -}}
{{-   $limits := $resources.limits | default dict -}}
{{-   $_ := set $limits ($p.gpuResource | default "nvidia.com/gpu") $gpus -}}
{{-   $_ := set $resources "limits" $limits -}}
{{- end -}}
- name: bootgate-init
  image: {{ $s.image | quote }}
  imagePullPolicy: {{ $s.pullPolicy }}
  args: [init, --config, {{ $s.configPath | quote }}]
  env:
    # NVML is all a gpu check needs.
    - name: NVIDIA_DRIVER_CAPABILITIES
      value: utility
    {{- with concat $s.env ($p.env | default list) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml $resources | nindent 4 }}
  securityContext:
    {{- include "bootgate.securityContext" . | nindent 4 }}
  # The failure summary, or the end of the log, shows in `kubectl describe pod`.
  terminationMessagePolicy: FallbackToLogsOnError
  volumeMounts:
    - name: bootgate-config
      mountPath: {{ $s.configDir }}
      readOnly: true
    - name: bootgate-state
      mountPath: {{ $s.stateDir }}
    {{- with $p.volumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/*
bootgate.sidecar: the guard, one item for initContainers (native) or containers (classic). It
runs `bootgate sidecar` and answers the pod's readiness from the sentinel's verdict: /readyz
with failureThreshold 1, since bootgate smooths the signal itself; /livez; and, native only,
/startupz, so the server starts after the guard is up. It requests no GPU.
Parameters:
  native        true: restartPolicy Always and a startupProbe, for initContainers, after
                bootgate.initContainer; false: for containers. By default bootgate.nativeSidecar.
  volumeMounts  extra mounts.
  env           extra EnvVars.
*/}}
{{- define "bootgate.sidecar" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $p := include "bootgate.params" . | fromJson -}}
{{- if $s.enabled -}}
{{- $native := $s.native -}}
{{- if hasKey $p "native" -}}
{{-   $native = $p.native -}}
{{- end -}}
- name: bootgate
  image: {{ $s.image | quote }}
  imagePullPolicy: {{ $s.pullPolicy }}
  args: [sidecar, --config, {{ $s.configPath | quote }}]
  {{- if $native }}
  restartPolicy: Always
  {{- end }}
  {{- with concat $s.env ($p.env | default list) }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: bootgate
      containerPort: {{ $s.port }}
      protocol: TCP
  {{- if $native }}
  startupProbe:
    httpGet:
      path: /startupz
      port: bootgate
    periodSeconds: 1
    timeoutSeconds: 1
    failureThreshold: 30
  {{- end }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: bootgate
    periodSeconds: 2
    timeoutSeconds: 1
    successThreshold: 1
    failureThreshold: 1
  livenessProbe:
    httpGet:
      path: /livez
      port: bootgate
    periodSeconds: 10
    timeoutSeconds: 1
    failureThreshold: 3
  resources:
    {{- toYaml $s.sidecarResources | nindent 4 }}
  securityContext:
    {{- include "bootgate.securityContext" . | nindent 4 }}
  terminationMessagePolicy: FallbackToLogsOnError
  volumeMounts:
    - name: bootgate-config
      mountPath: {{ $s.configDir }}
      readOnly: true
    - name: bootgate-state
      mountPath: {{ $s.stateDir }}
    {{- with $p.volumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/*
bootgate.initContainers: everything bootgate adds to initContainers: the gate, then the guard
when bootgate.nativeSidecar is true. Put it before any init container that should wait for the
gate, and after any that the gate waits for (a model download, say).
Parameters: those of bootgate.initContainer (gpus, gpuResource, volumeMounts, env), which go to
the gate only.
*/}}
{{- define "bootgate.initContainers" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- if $s.enabled -}}
{{- include "bootgate.initContainer" . }}
{{- if $s.native }}
{{- $args := dict "native" true -}}
{{- if hasKey . "root" -}}
{{-   $_ := set $args "root" .root -}}
{{-   if hasKey . "values" }}{{ $_ := set $args "values" .values }}{{ end -}}
{{- else -}}
{{-   $_ := set $args "root" . -}}
{{- end }}
{{ include "bootgate.sidecar" $args }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
bootgate.containers: what bootgate adds to containers: the guard when bootgate.nativeSidecar is
false (a classic sidecar, for clusters before 1.29), else nothing. No parameters.
*/}}
{{- define "bootgate.containers" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- if and $s.enabled (not $s.native) -}}
{{- $args := dict "native" false -}}
{{- if hasKey . "root" -}}
{{-   $_ := set $args "root" .root -}}
{{-   if hasKey . "values" }}{{ $_ := set $args "values" .values }}{{ end -}}
{{- else -}}
{{-   $_ := set $args "root" . -}}
{{- end -}}
{{- include "bootgate.sidecar" $args -}}
{{- end -}}
{{- end -}}

{{/*
bootgate.volumes: items for the pod's volumes: bootgate-config (the ConfigMap) and
bootgate-state (the state_dir: an emptyDir in memory, shared by the gate, the guard and the
server). No parameters.
*/}}
{{- define "bootgate.volumes" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- if $s.enabled -}}
- name: bootgate-config
  configMap:
    name: {{ $s.configMapName }}
- name: bootgate-state
  emptyDir:
    medium: Memory
    sizeLimit: {{ $s.stateSizeLimit }}
{{- end -}}
{{- end -}}

{{/*
bootgate.serverVolumeMounts: items for the server container's volumeMounts: the state_dir,
read-only, where the server finds the env file the gate writes. No parameters.
*/}}
{{- define "bootgate.serverVolumeMounts" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- if $s.enabled -}}
- name: bootgate-state
  mountPath: {{ $s.stateDir }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/*
bootgate.serverLivenessProbe: the server container's `livenessProbe:`, when
bootgate.modelLiveness.enabled is true; else nothing, so the include line can stay in place.
It asks the guard for /livez/model, which fails only once the model has failed continuously
for the config's sentinel.dead_after (5m by default), and never before the sentinel has passed
once since the server started: a model that loads for twenty minutes is not killed in a loop.
The guard's own livenessProbe restarts only the guard, never the server it watches. The port is
the guard's by number: a probe resolves a named port among the probed container's own ports,
and the guard's port is not the server's. No parameters.
*/}}
{{- define "bootgate.serverLivenessProbe" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $m := $s.modelLiveness -}}
{{- if and $s.enabled $m.enabled -}}
livenessProbe:
  httpGet:
    path: /livez/model
    port: {{ $s.port }}
  periodSeconds: {{ $m.periodSeconds }}
  timeoutSeconds: {{ $m.timeoutSeconds }}
  failureThreshold: {{ $m.failureThreshold }}
{{- end -}}
{{- end -}}

{{/*
bootgate.command: the server container's command, as YAML list items. With bootgate enabled,
`/bin/sh -c '. <state_dir>/env && exec <command>'`, each word quoted for the shell where it
needs it, so the server starts in CPU safe mode when a gpu check with on_fail: degrade failed;
disabled, the command unchanged. The image needs /bin/sh.
Parameters:
  command  the server's whole argv (entrypoint and arguments), a list; required. Leave the
           container's args unset.
*/}}
{{- define "bootgate.command" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $p := include "bootgate.params" . | fromJson -}}
{{- $command := $p.command | default list -}}
{{- if not $command -}}
{{-   fail "bootgate.command needs a command: (dict \"root\" . \"command\" (list \"vllm\" \"serve\" ...))" -}}
{{- end -}}
{{- if $s.enabled -}}
{{-   $words := list -}}
{{-   range $command -}}
{{-     $words = append $words (include "bootgate.shellQuote" (toString .)) -}}
{{-   end -}}
{{-   $envFile := include "bootgate.shellQuote" (printf "%s/env" $s.stateDir) -}}
{{-   $command = list "/bin/sh" "-c" (printf ". %s && exec %s" $envFile (join " " $words)) -}}
{{- end -}}
{{- range $i, $word := $command -}}
{{-   if $i }}{{ "\n" }}{{ end -}}
- {{ toString $word | quote }}
{{- end -}}
{{- end -}}

{{/*
bootgate.configMap: the whole ConfigMap document, with the config under the key bootgate.yaml.
Include it alone in a template file of its own.
Parameters:
  labels  extra labels (a dict).
*/}}
{{- define "bootgate.configMap" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $p := include "bootgate.params" . | fromJson -}}
{{- if $s.enabled -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $s.configMapName }}
  labels:
    {{- toYaml (merge ($p.labels | default dict) $s.labels) | nindent 4 }}
data:
  bootgate.yaml: |
    {{- $s.configText | nindent 4 }}
{{- end -}}
{{- end -}}

{{/*
bootgate.configChecksum: the sha256 of the config as the ConfigMap holds it; empty when
disabled. No parameters.
*/}}
{{- define "bootgate.configChecksum" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- if $s.enabled -}}
{{-   $s.checksum -}}
{{- end -}}
{{- end -}}

{{/*
bootgate.podAnnotations: the annotation line for the pod template's annotations,
`checksum/bootgate-config: <sha256>`, so a change of config rolls the pods. No parameters.
*/}}
{{- define "bootgate.podAnnotations" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- if $s.enabled -}}
checksum/bootgate-config: {{ $s.checksum | quote }}
{{- end -}}
{{- end -}}
