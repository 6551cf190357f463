"""Sandbox servers that behave like the Rev.io and QuickBooks Online APIs, over real HTTP on loopback.

This package is part of the product (try revqb offline) but the pipeline never imports it;
only the ``revqb sandbox`` / ``revqb demo`` CLI commands and the tests load it.
"""
