"""One folder per pipeline: its source format and schemas, rules, SQL (tables, marts, checks), its own Prefect
tasks and run presentation, its sample data and its deployments. Shared code finds these folders; it never imports
them, and no pipeline imports another."""
