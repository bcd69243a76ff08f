{{/* The name every object of this release starts with. */}}
{{- define "ca.fullname" -}}
{{- printf "%s" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object: what the drill selects by, and what Helm manages. */}}
{{- define "ca.labels" -}}
app.kubernetes.io/name: calendar-assistant
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The type of every Service but the headless one: ClusterIP unless NodePorts are asked for. */}}
{{- define "ca.serviceType" -}}
{{- if not (kindIs "bool" .Values.exposure.nodePort) }}
{{- fail (printf "exposure.nodePort: %v is not true or false" .Values.exposure.nodePort) }}
{{- end }}
{{- ternary "NodePort" "ClusterIP" .Values.exposure.nodePort }}
{{- end -}}

{{/* The Secret holding Redis's password (key "password"): the one values name, else the chart's own. */}}
{{- define "ca.redisSecret" -}}
{{- .Values.redis.passwordSecret | default (printf "%s-redis-password" (include "ca.fullname" .)) }}
{{- end -}}

{{/* Selector labels of one component: ca.selector (dict "root" $ "component" "app") */}}
{{- define "ca.selector" -}}
app.kubernetes.io/name: calendar-assistant
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The volume a store keeps its data on, for hostPath and emptyDir (pvc uses volumeClaimTemplates). */}}
{{- define "ca.dataVolume" -}}
- name: data
{{- if eq .root.Values.persistence.type "hostPath" }}
  hostPath:
    path: {{ printf "%s/%s/%s-%s" .root.Values.persistence.hostPathRoot .root.Release.Namespace .root.Release.Name .component }}
    type: DirectoryOrCreate
{{- else if eq .root.Values.persistence.type "emptyDir" }}
  emptyDir: {}
{{- else if ne .root.Values.persistence.type "pvc" }}
{{- fail (printf "persistence.type: %q is not one of pvc, hostPath, emptyDir" .root.Values.persistence.type) }}
{{- end }}
{{- end -}}

{{- define "ca.dataClaim" -}}
{{- if eq .root.Values.persistence.type "pvc" }}
volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
      {{- with .root.Values.persistence.storageClass }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ .root.Values.persistence.size }}
{{- end }}
{{- end -}}
