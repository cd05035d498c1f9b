{{/*
Monitoring, each part opt-in under bootgate.monitoring: a PodMonitor for the guard's /metrics,
a PrometheusRule with alerts, and a ConfigMap with the Grafana dashboard. PodMonitor and
PrometheusRule are the Prometheus Operator's kinds (monitoring.coreos.com/v1); the dashboard's
ConfigMap is for Grafana's dashboard sidecar (kube-prometheus-stack's, or grafana's chart with
sidecar.dashboards.enabled), which loads every ConfigMap that carries its label.

The values, with their defaults:
  podMonitor.enabled      false
  podMonitor.interval     30s: how often Prometheus scrapes /metrics.
  podMonitor.labels       {}: labels the Prometheus's podMonitorSelector asks for
                          (kube-prometheus-stack: release: <its release>).
  prometheusRule.enabled  false
  prometheusRule.labels   {}: labels the Prometheus's ruleSelector asks for.
  prometheusRule.severity warning: the severity label of every alert.
  prometheusRule.notReadyFor            20m: BootgatePodNotReady, a pod not Ready this long.
  prometheusRule.initFailingWindow      15m: BootgateInitFailing, a gate restarted within it...
  prometheusRule.initFailingFor         1m:  ...or in CrashLoopBackOff, for this long.
  prometheusRule.sentinelLatencyQuantile 0.9
  prometheusRule.sentinelLatencySeconds  2: BootgateSentinelSlow, that quantile of the
                                         sentinel's latency over 5m above this...
  prometheusRule.sentinelLatencyFor      10m: ...for this long.
  prometheusRule.checkCaveatFor          1m: BootgateCheckForced, BootgateCheckDegraded.
  dashboard.enabled       false
  dashboard.labels        {grafana_dashboard: "1"}: the label Grafana's sidecar looks for.
  dashboard.annotations   {}: e.g. grafana_folder, for the sidecar's folderAnnotation.
docs/helm.md describes them; docs/operations.md says what each alert means and what to do.

The alerts on readiness and on the gate come from kube-state-metrics: the guard, and its
/metrics, start only once the gate has passed, so a gate that never passes shows nowhere else.
*/}}

{{/*
bootgate.monitoringSettings: bootgate.monitoring with its defaults, as JSON.
*/}}
{{- define "bootgate.monitoringSettings" -}}
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
{{- $defaults := dict
      "podMonitor" (dict "enabled" false "interval" "30s" "labels" dict)
      "prometheusRule" (dict
        "enabled" false "labels" dict "severity" "warning"
        "notReadyFor" "20m" "initFailingWindow" "15m" "initFailingFor" "1m"
        "sentinelLatencyQuantile" 0.9 "sentinelLatencySeconds" 2 "sentinelLatencyFor" "10m"
        "checkCaveatFor" "1m")
      "dashboard" (dict "enabled" false "labels" (dict "grafana_dashboard" "1") "annotations" dict) -}}
{{- $given := include "bootgate.withoutNulls" ($v.monitoring | default dict) | fromJson -}}
{{- mergeOverwrite $defaults $given | toJson -}}
{{- end -}}

{{/*
bootgate.monitoringSelector: the PromQL label matchers that narrow a series to this release's
pods: the release's namespace and the pods named after the including chart's full name. A dict
argument may give podRegex instead.
*/}}
{{- define "bootgate.monitoringSelector" -}}
{{- $root := . -}}
{{- if hasKey . "root" -}}
{{-   $root = .root -}}
{{- end -}}
{{- $p := include "bootgate.params" . | fromJson -}}
{{- $regex := $p.podRegex | default (printf "%s-.*" (include "bootgate.parentFullname" $root)) -}}
{{- printf ", namespace=%q, pod=~%q" $root.Release.Namespace $regex -}}
{{- end -}}

{{/*
bootgate.podMonitor: the whole PodMonitor document, when bootgate.monitoring.podMonitor.enabled
is true. It scrapes the guard's port (named bootgate) at /metrics; Prometheus finds the port on
an init container too, so a native sidecar is scraped like a classic one.
Parameters:
  selector  the pod template's labels to select the pods by (a dict); required.
*/}}
{{- define "bootgate.podMonitor" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $m := include "bootgate.monitoringSettings" . | fromJson -}}
{{- $p := include "bootgate.params" . | fromJson -}}
{{- $root := . -}}
{{- if hasKey . "root" }}{{ $root = .root }}{{ end -}}
{{- if and $s.enabled $m.podMonitor.enabled -}}
{{- if not $p.selector -}}
{{-   fail "bootgate.podMonitor needs a selector: (dict \"root\" . \"selector\" (the pod template's labels))" -}}
{{- end -}}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ printf "%s-bootgate" (include "bootgate.parentFullname" $root) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- toYaml (merge (deepCopy $m.podMonitor.labels) $s.labels) | nindent 4 }}
spec:
  selector:
    matchLabels:
      {{- toYaml $p.selector | nindent 6 }}
  podMetricsEndpoints:
    - port: bootgate
      path: /metrics
      interval: {{ $m.podMonitor.interval }}
{{- end -}}
{{- end -}}

{{/*
bootgate.prometheusRules: the rule groups, as YAML: the PrometheusRule's spec.groups.
*/}}
{{- define "bootgate.prometheusRules" -}}
{{- $m := (include "bootgate.monitoringSettings" . | fromJson).prometheusRule -}}
{{- $sel := include "bootgate.monitoringSelector" . -}}
{{- $q := $m.sentinelLatencyQuantile -}}
- name: bootgate
  rules:
    - alert: BootgatePodNotReady
      expr: >-
        max by (namespace, pod) (kube_pod_status_ready{condition="true"{{ $sel }}} == 0)
        and on (namespace, pod)
        max by (namespace, pod) (kube_pod_init_container_info{container="bootgate-init"{{ $sel }}})
      for: {{ $m.notReadyFor }}
      labels:
        severity: {{ $m.severity }}
      annotations:
        summary: {{ printf "Pod {{ $labels.namespace }}/{{ $labels.pod }} has not been Ready for %s." $m.notReadyFor | quote }}
        description: >-
          The gate is still waiting on a check (its log: kubectl logs POD -c bootgate-init), or
          the guard's sentinel fails (kubectl logs POD -c bootgate); docs/operations.md,
          BootgatePodNotReady.
    - alert: BootgateInitFailing
      expr: >-
        max by (namespace, pod) (increase(kube_pod_init_container_status_restarts_total{container="bootgate-init"{{ $sel }}}[{{ $m.initFailingWindow }}])) > 0
        or
        max by (namespace, pod) (kube_pod_init_container_status_waiting_reason{container="bootgate-init", reason="CrashLoopBackOff"{{ $sel }}}) == 1
      for: {{ $m.initFailingFor }}
      labels:
        severity: {{ $m.severity }}
      annotations:
        summary: "The gate of {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} exits with a failure and is restarted."
        description: >-
          A required check failed or the deadline passed: the gate's termination message, in
          `kubectl describe pod`, names the check; docs/operations.md, BootgateInitFailing.
    - alert: BootgateSentinelSlow
      expr: >-
        histogram_quantile({{ $q }}, sum by (namespace, pod, le) (rate(bootgate_sentinel_latency_seconds_bucket{container="bootgate"{{ $sel }}}[5m])))
        > {{ $m.sentinelLatencySeconds }}
      for: {{ $m.sentinelLatencyFor }}
      labels:
        severity: {{ $m.severity }}
      annotations:
        summary: {{ printf "The sentinel's p%v latency on {{ $labels.namespace }}/{{ $labels.pod }} is above %vs." (mulf $q 100) $m.sentinelLatencySeconds | quote }}
        description: >-
          The model answers its sentinel query slowly: an overloaded or throttled server, or a GPU
          in trouble; docs/operations.md, BootgateSentinelSlow.
    - alert: BootgateCheckForced
      expr: max by (namespace, pod, check) (bootgate_forced{container="bootgate"{{ $sel }}}) == 1
      for: {{ $m.checkCaveatFor }}
      labels:
        severity: {{ $m.severity }}
      annotations:
        summary: "Check {{`{{ $labels.check }}`}} on {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} passed only because of force: true."
        description: >-
          force: true let a mismatch through: the model on disk is not the one pinned. The
          gate's log lists the mismatch; docs/operations.md, BootgateCheckForced.
    - alert: BootgateCheckDegraded
      expr: max by (namespace, pod, check) (bootgate_degraded{container="bootgate"{{ $sel }}}) == 1
      for: {{ $m.checkCaveatFor }}
      labels:
        severity: {{ $m.severity }}
      annotations:
        summary: "Check {{`{{ $labels.check }}`}} on {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} failed with on_fail: degrade."
        description: >-
          The server runs in its safe mode (CPU, without the GPU) since the check failed.
          docs/operations.md, BootgateCheckDegraded.
{{- end -}}

{{/*
bootgate.prometheusRule: the whole PrometheusRule document, when
bootgate.monitoring.prometheusRule.enabled is true.
Parameters:
  podRegex  the pods the alerts watch, a regular expression on their names
            (<the chart's fullname>-.*, a Deployment's pods).
*/}}
{{- define "bootgate.prometheusRule" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $m := include "bootgate.monitoringSettings" . | fromJson -}}
{{- $root := . -}}
{{- if hasKey . "root" }}{{ $root = .root }}{{ end -}}
{{- if and $s.enabled $m.prometheusRule.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ printf "%s-bootgate" (include "bootgate.parentFullname" $root) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- toYaml (merge (deepCopy $m.prometheusRule.labels) $s.labels) | nindent 4 }}
spec:
  groups:
    {{- include "bootgate.prometheusRules" . | nindent 4 }}
{{- end -}}
{{- end -}}

{{/*
bootgate.dashboardConfigMap: the whole ConfigMap document with the Grafana dashboard under
bootgate.json, when bootgate.monitoring.dashboard.enabled is true.
*/}}
{{- define "bootgate.dashboardConfigMap" -}}
{{- $s := include "bootgate.settings" . | fromJson -}}
{{- $m := include "bootgate.monitoringSettings" . | fromJson -}}
{{- $root := . -}}
{{- if hasKey . "root" }}{{ $root = .root }}{{ end -}}
{{- if and $s.enabled $m.dashboard.enabled -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-bootgate-dashboard" (include "bootgate.parentFullname" $root) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- toYaml (merge (deepCopy $m.dashboard.labels) $s.labels) | nindent 4 }}
  {{- with $m.dashboard.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
data:
  bootgate.json: |
    {{- include "bootgate.dashboardJson" . | nindent 4 }}
{{- end -}}
{{- end -}}

{{/*
bootgate.dashboardJson: the Grafana dashboard, the same as k8s/kustomize/monitoring's
bootgate-dashboard.json (a test holds them equal); a raw string, so Grafana's {{pod}} legends
stay as they are.
*/}}
{{- define "bootgate.dashboardJson" -}}
{{- `{
  "title": "bootgate",
  "uid": "bootgate",
  "tags": [
    "bootgate"
  ],
  "editable": true,
  "schemaVersion": 39,
  "version": 1,
  "refresh": "30s",
  "time": {
    "from": "now-6h",
    "to": "now"
  },
  "timezone": "",
  "description": "The gate and the guard of bootgate-guarded pods: readiness, transitions, sentinel latency, checks.",
  "templating": {
    "list": [
      {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {}
      },
      {
        "name": "namespace",
        "label": "namespace",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "query": {
          "query": "label_values(bootgate_ready, namespace)",
          "refId": "namespace"
        },
        "definition": "label_values(bootgate_ready, namespace)",
        "refresh": 2,
        "includeAll": true,
        "multi": true,
        "allValue": ".*",
        "current": {
          "selected": true,
          "text": "All",
          "value": "$__all"
        },
        "sort": 1
      },
      {
        "name": "pod",
        "label": "pod",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "query": {
          "query": "label_values(bootgate_ready{namespace=~\"$namespace\"}, pod)",
          "refId": "pod"
        },
        "definition": "label_values(bootgate_ready{namespace=~\"$namespace\"}, pod)",
        "refresh": 2,
        "includeAll": true,
        "multi": true,
        "allValue": ".*",
        "current": {
          "selected": true,
          "text": "All",
          "value": "$__all"
        },
        "sort": 1
      }
    ]
  },
  "annotations": {
    "list": []
  },
  "links": [],
  "panels": [
    {
      "id": 1,
      "type": "timeseries",
      "title": "Ready (the guard's verdict)",
      "description": "bootgate_ready: 1 while the guard answers /readyz with 200.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 0,
        "y": 0,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "bootgate_ready{namespace=~\"$namespace\", pod=~\"$pod\"}",
          "legendFormat": "{{pod}}",
          "refId": "A"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "custom": {
            "lineInterpolation": "stepAfter",
            "fillOpacity": 10
          },
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 2,
      "type": "timeseries",
      "title": "Pod Ready (kube-state-metrics)",
      "description": "The pod's Ready condition, which also covers the time before the guard runs: while the gate runs no bootgate /metrics exists.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 12,
        "y": 0,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "kube_pod_status_ready{condition=\"true\", namespace=~\"$namespace\", pod=~\"$pod\"}",
          "legendFormat": "{{pod}}",
          "refId": "A"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "custom": {
            "lineInterpolation": "stepAfter",
            "fillOpacity": 10
          },
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 3,
      "type": "timeseries",
      "title": "Readiness transitions",
      "description": "Transitions of the guard's verdict, by the phase entered.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 0,
        "y": 8,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (pod, to) (increase(bootgate_transitions_total{namespace=~\"$namespace\", pod=~\"$pod\"}[$__rate_interval]))",
          "legendFormat": "{{pod}} → {{to}}",
          "refId": "A"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "custom": {
            "drawStyle": "bars",
            "fillOpacity": 60
          },
          "decimals": 0
        },
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 4,
      "type": "timeseries",
      "title": "Sentinel latency",
      "description": "The sentinel's queries to the model, from bootgate_sentinel_latency_seconds, by query.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 12,
        "y": 8,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "histogram_quantile(0.5, sum by (le, pod, query) (rate(bootgate_sentinel_latency_seconds_bucket{namespace=~\"$namespace\", pod=~\"$pod\"}[$__rate_interval])))",
          "legendFormat": "p50 {{pod}} {{query}}",
          "refId": "A"
        },
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "histogram_quantile(0.99, sum by (le, pod, query) (rate(bootgate_sentinel_latency_seconds_bucket{namespace=~\"$namespace\", pod=~\"$pod\"}[$__rate_interval])))",
          "legendFormat": "p99 {{pod}} {{query}}",
          "refId": "B"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "unit": "s"
        },
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 5,
      "type": "timeseries",
      "title": "Sentinel rounds",
      "description": "Sentinel rounds per second, by result.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 0,
        "y": 16,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "sum by (pod, result) (rate(bootgate_sentinel_rounds_total{namespace=~\"$namespace\", pod=~\"$pod\"}[$__rate_interval]))",
          "legendFormat": "{{pod}} {{result}}",
          "refId": "A"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "unit": "ops"
        },
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 6,
      "type": "state-timeline",
      "title": "Checks up",
      "description": "bootgate_check_up: 1 when a check passed cleanly, 0 when it failed, was forced or degraded.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 12,
        "y": 16,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "bootgate_check_up{namespace=~\"$namespace\", pod=~\"$pod\"}",
          "legendFormat": "{{pod}} {{check}}",
          "refId": "A"
        }
      ],
      "fieldConfig": {
        "defaults": {
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 7,
      "type": "table",
      "title": "Forced or degraded checks",
      "description": "Checks that passed only through force: true, or failed with on_fail: degrade (the server runs in a safe mode).",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 0,
        "y": 24,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "bootgate_forced{namespace=~\"$namespace\", pod=~\"$pod\"} == 1",
          "legendFormat": "forced {{pod}} {{check}}",
          "refId": "A",
          "instant": true,
          "format": "table"
        },
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "bootgate_degraded{namespace=~\"$namespace\", pod=~\"$pod\"} == 1",
          "legendFormat": "degraded {{pod}} {{check}}",
          "refId": "B",
          "instant": true,
          "format": "table"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {}
    },
    {
      "id": 8,
      "type": "table",
      "title": "Build and pins",
      "description": "bootgate_build_info: the version and the configured pins of each guard.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos": {
        "x": 12,
        "y": 24,
        "w": 12,
        "h": 8
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "expr": "bootgate_build_info{namespace=~\"$namespace\", pod=~\"$pod\"}",
          "legendFormat": "{{pod}} {{version}}",
          "refId": "A",
          "instant": true,
          "format": "table"
        }
      ],
      "fieldConfig": {
        "defaults": {},
        "overrides": []
      },
      "options": {}
    }
  ]
}` -}}
{{- end -}}
