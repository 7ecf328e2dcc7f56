{{/* Names and labels shared by every template. */}}

{{- define "kubetune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubetune.fullname" -}}
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

{{- define "kubetune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubetune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubetune.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kubetune.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubetune
{{- end }}

{{- define "kubetune.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubetune.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
What the operator does in a namespace it watches. Creating the kubetune-trial Role needs
every permission that Role grants (RBAC escalation check), hence get/patch/update on
trials/status; holding them is narrower than the `escalate` and `bind` verbs.
*/}}
{{- define "kubetune.operatorRules" -}}
- apiGroups: [kubetune.dev]
  resources: [tuningstudies]
  verbs: [get, list, watch]
- apiGroups: [kubetune.dev]
  resources: [tuningstudies/status]
  verbs: [get, patch]
- apiGroups: [kubetune.dev]
  resources: [trials]
  verbs: [get, list, watch, create, patch]
- apiGroups: [kubetune.dev]
  resources: [trials/status]
  verbs: [get, patch, update]
# ownerReferences with blockOwnerDeletion (Trial -> study, Job -> Trial) need update on the
# owner's finalizers where OwnerReferencesPermissionEnforcement is enabled.
- apiGroups: [kubetune.dev]
  resources: [tuningstudies/finalizers, trials/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# spec.trialTemplate.checkpoints.persistentVolumeClaim: a study whose claim does not exist
# launches no trial and says so (it is read, never created or changed).
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
# spec.warmStart.configMap: the named ConfigMap is read (one GET per spec generation);
# never listed, watched or written.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
# Events: the study's own (create, patch), and the Job controller's FailedCreate events,
# listed to tell a trial blocked by a ResourceQuota (QuotaExceeded).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch, list]
# The kubetune-trial ServiceAccount, Role and RoleBinding in namespaces with studies:
# created once (an existing one answers 409 and is left alone), never read or changed.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create]
{{- end }}
