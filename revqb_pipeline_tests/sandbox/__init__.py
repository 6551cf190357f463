"""Tests of the revqb_sandbox package: the Rev.io and QBO sandboxes."""
