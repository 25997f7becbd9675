"""The pipeline kit: what a pipeline is built from. Discovery against the ledger, file-export families, the command
line, the Prefect tasks every pipeline runs (stage, load, rebuild marts, report, announce) with the retry policy,
and the flow bodies that put them in order. It imports core, warehouse and observability, and no pipeline."""
