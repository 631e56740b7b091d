"""Source parsers: raw bytes of one file -> canonical observations and station metadata."""
