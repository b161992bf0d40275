"""Pure parsers: text in, typed records out. No I/O. Unknown text raises ParseError."""
