"""The ``passport`` command line: parse, call the library, print one clear line."""
