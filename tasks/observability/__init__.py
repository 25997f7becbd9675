"""What a run shows and what is known about runs: progress, summaries and events, peak memory, the status of
every pipeline, and the warehouse audit. It imports core and warehouse, and no pipeline."""
