"""Reading and writing: path expansion, batch readers and atomic shard writers."""
