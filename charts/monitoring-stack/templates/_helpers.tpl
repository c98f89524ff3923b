{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "monitoring-stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified prefix for object names. Component names are appended to it, so it is kept to 40 characters
to leave room for the longest suffix ("-mysql-exporter") within 63.
*/}}
{{- define "monitoring-stack.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of one component's objects: (dict "root" $ "component" "prometheus").
*/}}
{{- define "monitoring-stack.componentName" -}}
{{- printf "%s-%s" (include "monitoring-stack.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitoring-stack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component: (dict "root" $ "component" "grafana").
*/}}
{{- define "monitoring-stack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "monitoring-stack.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
All labels of one component's objects.
*/}}
{{- define "monitoring-stack.labels" -}}
helm.sh/chart: {{ include "monitoring-stack.chart" .root }}
{{ include "monitoring-stack.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: {{ include "monitoring-stack.name" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Container image reference from an image dict.
*/}}
{{- define "monitoring-stack.image" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{- define "monitoring-stack.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount Prometheus runs as.
*/}}
{{- define "monitoring-stack.prometheusServiceAccount" -}}
{{- if .Values.prometheus.serviceAccount.create }}
{{- default (include "monitoring-stack.componentName" (dict "root" . "component" "prometheus")) .Values.prometheus.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.prometheus.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
True (non-empty) when the Prometheus image is a 2.x release, which still serves the console templates.
*/}}
{{- define "monitoring-stack.prometheusIsV2" -}}
{{- if regexMatch "^v?2\\." .Values.prometheus.image.tag }}true{{ end }}
{{- end }}

{{/*
Name of the Secret holding the Grafana admin credentials.
*/}}
{{- define "monitoring-stack.grafanaSecret" -}}
{{- default (include "monitoring-stack.componentName" (dict "root" . "component" "grafana")) .Values.grafana.existingSecret }}
{{- end }}

{{/*
Name of the Secret holding mysqld-exporter's my.cnf.
*/}}
{{- define "monitoring-stack.mysqlExporterSecret" -}}
{{- default (include "monitoring-stack.componentName" (dict "root" . "component" "mysql-exporter")) .Values.mysqlExporter.existingSecret }}
{{- end }}

{{/*
URL of the chart's Prometheus Service inside the cluster.
*/}}
{{- define "monitoring-stack.prometheusUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "monitoring-stack.componentName" (dict "root" . "component" "prometheus")) .Release.Namespace (int .Values.prometheus.service.port) }}
{{- end }}

{{/*
The whole prometheus.yml, built as a data structure from values and serialized once, so every job is valid YAML
whatever the values contain. Job names must be unique: Prometheus refuses duplicates, so does this template.
*/}}
{{- define "monitoring-stack.prometheusConfig" -}}
{{- $jobs := list }}
{{- $cfg := .Values.prometheus.config }}
{{- if $cfg.scrapeSelf }}
{{- $jobs = append $jobs (dict "job_name" "prometheus" "static_configs" (list (dict "targets" (list (printf "localhost:%d" (int .Values.prometheus.service.port)))))) }}
{{- end }}
{{- if and $cfg.scrapeChartTargets .Values.nodeExporter.enabled }}
{{- $svc := include "monitoring-stack.componentName" (dict "root" . "component" "node-exporter") }}
{{- $sd := dict "role" "endpoints" "namespaces" (dict "names" (list .Release.Namespace)) }}
{{- $keepService := dict "source_labels" (list "__meta_kubernetes_service_name") "action" "keep" "regex" (regexQuoteMeta $svc) }}
{{- $keepPort := dict "source_labels" (list "__meta_kubernetes_endpoint_port_name") "action" "keep" "regex" "metrics" }}
{{- $nodeLabel := dict "source_labels" (list "__meta_kubernetes_endpoint_node_name") "target_label" "node" }}
{{- $jobs = append $jobs (dict "job_name" "node" "kubernetes_sd_configs" (list $sd) "relabel_configs" (list $keepService $keepPort $nodeLabel)) }}
{{- end }}
{{- if and $cfg.scrapeChartTargets .Values.mysqlExporter.enabled }}
{{- $target := printf "%s:%d" (include "monitoring-stack.componentName" (dict "root" . "component" "mysql-exporter")) (int .Values.mysqlExporter.service.port) }}
{{- $jobs = append $jobs (dict "job_name" "mysql-exporter" "static_configs" (list (dict "targets" (list $target)))) }}
{{- end }}
{{- $jobs = concat $jobs (default (list) $cfg.scrapeConfigs) }}
{{- $seen := dict }}
{{- range $jobs }}
{{- if hasKey $seen .job_name }}
{{- fail (printf "prometheus.config.scrapeConfigs: job_name %q is used twice (the chart's own jobs are prometheus, node and mysql-exporter)" .job_name) }}
{{- end }}
{{- $_ := set $seen .job_name true }}
{{- end }}
{{- toYaml (dict "global" $cfg.global "scrape_configs" $jobs) }}
{{- end }}
