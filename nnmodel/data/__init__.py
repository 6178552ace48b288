"""The data layers: readers of every MNIST source, downloads, the verified raw layer, the Parquet
splits and the splits with feedback folded in."""
