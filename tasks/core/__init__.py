"""The input side every pipeline shares: settings, reading files in bounded chunks, records, validation, staging,
batches and streams, landing, MapReduce and the task runners. It imports nothing else from `tasks`."""
