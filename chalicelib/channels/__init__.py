"""Messaging channels: one subpackage per platform, all speaking the canonical models."""
