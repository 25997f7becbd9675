"""Word count: a MapReduce job counting the words of a folder of text files into the wordcount schema."""
