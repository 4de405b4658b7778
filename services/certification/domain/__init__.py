"""Certification's pure domain: facts, codes, certificates, competencies and the decisions over them."""
