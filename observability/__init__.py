"""What operators watch: the Prometheus exposition (``exposition``, the one place that maps
measures to metric names), Prometheus rules generated from the alert rules (``promrules``),
and the Grafana dashboards as code and their push (``grafana``, ``grafana_push``)."""
