"""Prefect tasks: thin adapters that resolve configuration and call one domain function."""
