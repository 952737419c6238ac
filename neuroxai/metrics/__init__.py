"""neuroxai.metrics"""
