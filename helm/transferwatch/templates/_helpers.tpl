{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "transferwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters (DNS names). The job label of the scraped
series is derived from it (transferwatch.jobName), so that it holds "transferwatch" even under
fullnameOverride.
*/}}
{{- define "transferwatch.fullname" -}}
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

{{- define "transferwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "transferwatch.labels" -}}
helm.sh/chart: {{ include "transferwatch.chart" . }}
{{ include "transferwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: transferwatch
{{- end }}

{{/*
Labels that select the pods.
*/}}
{{- define "transferwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "transferwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The container image: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "transferwatch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the subject key, the Redis password and the API token.
*/}}
{{- define "transferwatch.secretName" -}}
{{- default (printf "%s-secrets" (include "transferwatch.fullname" .)) .Values.existingSecret }}
{{- end }}

{{/*
Keys in that Secret: existingSecretKeys for an existing Secret, fixed names for the chart's own.
*/}}
{{- define "transferwatch.secretKeys" -}}
{{- if .Values.existingSecret }}
{{- toJson .Values.existingSecretKeys }}
{{- else }}
{{- toJson (dict "subjectKey" "subject-key" "redisPassword" "redis-password" "kafkaSASLPassword" "kafka-sasl-password" "apiToken" "api-token") }}
{{- end }}
{{- end }}

{{/*
The container port: the port of config.http.addr.
*/}}
{{- define "transferwatch.httpPort" -}}
{{- $port := regexFind "[0-9]+$" .Values.config.http.addr }}
{{- if not $port }}
{{- fail (printf "config.http.addr %q must end with a port" .Values.config.http.addr) }}
{{- end }}
{{- $port }}
{{- end }}

{{/*
Fails the release when no subject key would reach the service: it refuses to start without
one, and the chart never makes one up (a new key counts everyone again).
*/}}
{{- define "transferwatch.validate" -}}
{{- if and (not .Values.existingSecret) (not .Values.secret.subjectKey) }}
{{- fail "set secret.subjectKey (32 hex characters: head -c 16 /dev/urandom | xxd -p) or existingSecret: transferwatch refuses to start without a subject key, and the chart does not generate one because a new key counts every person again" }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount of the pods.
*/}}
{{- define "transferwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "transferwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The job label the ServiceMonitor gives the scraped series: serviceMonitor.jobName, or the full
name with "transferwatch-" in front unless it holds "transferwatch" already, so that the
default job selector of TransferwatchDown (job=~".*transferwatch.*") finds it whatever
fullnameOverride says.
*/}}
{{- define "transferwatch.jobName" -}}
{{- if .Values.serviceMonitor.jobName }}
{{- .Values.serviceMonitor.jobName }}
{{- else }}
{{- $name := include "transferwatch.fullname" . }}
{{- if contains "transferwatch" $name }}
{{- $name }}
{{- else }}
{{- printf "transferwatch-%s" $name }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The image of the helm test pod.
*/}}
{{- define "transferwatch.testImage" -}}
{{- $i := .Values.tests.image }}
{{- if $i.digest }}
{{- printf "%s@%s" $i.repository $i.digest }}
{{- else }}
{{- printf "%s:%s" $i.repository $i.tag }}
{{- end }}
{{- end }}

{{/*
Labels of the helm test pod: not the selector labels, so that neither the Service, the
Deployment, the PodDisruptionBudget nor the NetworkPolicy's podSelector take it for an instance.
*/}}
{{- define "transferwatch.testLabels" -}}
helm.sh/chart: {{ include "transferwatch.chart" . }}
app.kubernetes.io/name: {{ include "transferwatch.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: transferwatch
{{- end }}

{{/*
GOMEMLIMIT: .Values.goMemLimit as is; "" for 90% of resources.limits.memory when given in Mi or
Gi (nothing otherwise); "off" for none.
*/}}
{{- define "transferwatch.goMemLimit" -}}
{{- $v := toString (.Values.goMemLimit | default "") -}}
{{- if and $v (ne $v "off") -}}
{{ $v }}
{{- else if not $v -}}
{{- $lim := toString (dig "limits" "memory" "" (.Values.resources | default dict)) -}}
{{- if regexMatch "^[0-9]+Gi$" $lim -}}
{{ div (mul (trimSuffix "Gi" $lim | int) 1024 9) 10 }}MiB
{{- else if regexMatch "^[0-9]+Mi$" $lim -}}
{{ div (mul (trimSuffix "Mi" $lim | int) 9) 10 }}MiB
{{- end -}}
{{- end -}}
{{- end -}}
