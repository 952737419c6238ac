"""neuroxai.sanity"""
