"""The collector: scheduler and probes (ssh, http, local, prometheus)."""
