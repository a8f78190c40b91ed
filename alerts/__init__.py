"""Alert rules, their evaluation and delivery, Prometheus exposition and rule generation."""
