"""Mandatory reporting: CyberTipline report cases, their submission to NCMEC and their preservation."""
