#!/bin/sh
# Adds bootgate to a Helm chart's Deployments: a Helm post-renderer that applies the kustomize
# Component in ./component to the manifests on stdin, and prints the result on stdout.
#
#   helm install llama ./chart --post-renderer ./k8s/kustomize/post-render.sh      # Helm 3
#   helm template llama ./chart | ./k8s/kustomize/post-render.sh                   # to look
#
# Helm 4 takes a post-renderer plugin's name instead of a path: docs/kubernetes.md shows the
# plugin.yaml that runs this script.
#
# With BOOTGATE_MODEL_LIVENESS=1 (or true) in its environment it applies ./model-liveness too: the
# server gets a livenessProbe on the guard's /livez/model (see model-liveness/kustomization.yaml).
#
# It needs `kubectl` or `kustomize` (v5; tested with v5.8, in kubectl 1.37) on PATH; set KUBECTL
# or KUSTOMIZE to use a particular one. The Component applies to every Deployment in the chart and
# assumes the server is each one's first container: see component/kustomization.yaml.
#
# POSIX sh. It writes only to a temporary directory, removed on exit; it fails, printing
# nothing on stdout, when kustomize does.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

case "${BOOTGATE_MODEL_LIVENESS:-}" in
    1 | true) model_liveness=yes ;;
    '' | 0 | false) model_liveness=no ;;
    *)
        echo "post-render.sh: BOOTGATE_MODEL_LIVENESS is 1 or true to turn model liveness on, 0, false or unset to leave it off" >&2
        exit 2
        ;;
esac

cat >"$work/rendered.yaml"
# kustomize refuses absolute paths to components, and paths that climb out of a kustomization
# are brittle: link the Components into the directory instead.
ln -s "$here/component" "$work/bootgate"
cat >"$work/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - rendered.yaml
components:
  - bootgate
EOF
if [ "$model_liveness" = yes ]; then
    ln -s "$here/model-liveness" "$work/bootgate-model-liveness"
    echo "  - bootgate-model-liveness" >>"$work/kustomization.yaml"
fi

if [ -n "${KUSTOMIZE:-}" ]; then
    "$KUSTOMIZE" build "$work"
elif [ -n "${KUBECTL:-}" ]; then
    "$KUBECTL" kustomize "$work"
elif command -v kubectl >/dev/null 2>&1; then
    kubectl kustomize "$work"
elif command -v kustomize >/dev/null 2>&1; then
    kustomize build "$work"
else
    echo "post-render.sh: neither kubectl nor kustomize is on PATH (or set KUBECTL or KUSTOMIZE)" >&2
    exit 127
fi
