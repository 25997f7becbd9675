"""Word count: a MapReduce job counting the words of a folder of text files into the wordcount schema."""

from tasks.core.settings import DATA_DIR

SAMPLE = DATA_DIR / "sample_corpus"  # the bundled sample folder: the flow's default source
