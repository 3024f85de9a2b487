{{/* Chart name, shortened to fit Kubernetes name limits. */}}
{{- define "gitgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name already contains it. */}}
{{- define "gitgate.fullname" -}}
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

{{- define "gitgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gitgate.labels" -}}
helm.sh/chart: {{ include "gitgate.chart" . }}
{{ include "gitgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: admission-webhook
{{- end }}

{{- define "gitgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gitgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gitgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Names of the objects the templates refer to each other by. */}}
{{- define "gitgate.tlsSecretName" -}}{{ include "gitgate.fullname" . }}-tls{{- end }}
{{- define "gitgate.policiesConfigMapName" -}}{{ include "gitgate.fullname" . }}-policies{{- end }}
{{- define "gitgate.clientCAConfigMapName" -}}{{ include "gitgate.fullname" . }}-client-ca{{- end }}
{{- define "gitgate.gitSecretName" -}}
{{- default (printf "%s-git" (include "gitgate.fullname" .)) .Values.git.credentials.existingSecret }}
{{- end }}
{{- define "gitgate.gitCredentialsEnabled" -}}
{{- if or .Values.git.credentials.existingSecret .Values.git.credentials.files }}true{{- end }}
{{- end }}

{{/* The DNS names the API server uses to reach the Service; the serving certificate carries them all. */}}
{{- define "gitgate.serviceDnsNames" -}}
{{- $svc := include "gitgate.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/* Fixed paths inside the container; the container args and the volume mounts both use these. */}}
{{- define "gitgate.paths.policies" -}}/etc/gitgate/policies{{- end }}
{{- define "gitgate.paths.tls" -}}/etc/gitgate/tls{{- end }}
{{- define "gitgate.paths.clientCA" -}}/etc/gitgate/client-ca{{- end }}
{{- define "gitgate.paths.auditHmac" -}}/etc/gitgate/audit-hmac{{- end }}
{{- define "gitgate.paths.sources" -}}/etc/gitgate/sources{{- end }}
{{- define "gitgate.paths.cache" -}}/var/cache/gitgate{{- end }}
{{- define "gitgate.paths.audit" -}}/var/log/gitgate{{- end }}

{{/*
Resources the webhook must never be asked about: high-volume objects nobody declares in Git, and review
APIs whose CREATE is a read. Returns the first forbidden "group/resource" in the rules, or "".
*/}}
{{- define "gitgate.forbiddenRuleResource" -}}
{{- $forbidden := list "leases" "events" "tokenreviews" "subjectaccessreviews" "selfsubjectaccessreviews" "localsubjectaccessreviews" "selfsubjectrulesreviews" "selfsubjectreviews" "*" "*/*" }}
{{- $found := "" }}
{{- range concat .Values.webhook.rules .Values.webhook.extraRules }}
{{- range .resources }}
{{- $base := (split "/" .)._0 }}
{{- if and (not $found) (or (has . $forbidden) (has $base $forbidden)) }}
{{- $found = . }}
{{- end }}
{{- end }}
{{- end }}
{{- $found }}
{{- end }}

{{/*
The API server's source addresses for the ingress NetworkPolicy, comma-separated: networkPolicy.ingress.apiServerCIDRs,
else (lookupAPIServer, install or upgrade against a cluster) the endpoints of default/kubernetes, which are the API
servers' own addresses on self-managed clusters; "" when unknown (helm template).
*/}}
{{- define "gitgate.apiServerCIDRs" -}}
{{- $in := .Values.networkPolicy.ingress -}}
{{- $cidrs := $in.apiServerCIDRs -}}
{{- if and (not $cidrs) $in.lookupAPIServer -}}
{{- $endpoints := lookup "v1" "Endpoints" "default" "kubernetes" -}}
{{- range (($endpoints).subsets | default list) -}}
{{- range (.addresses | default list) -}}
{{- $cidrs = append $cidrs (printf "%s/%s" .ip (ternary "128" "32" (contains ":" .ip))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join "," $cidrs -}}
{{- end -}}
