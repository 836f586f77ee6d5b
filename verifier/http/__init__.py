"""The verifier on the wire: IAM Query and STS over SigV4, and the console.

The web framework (Starlette) and botocore's service models are imported only in this package,
an optional extra (`tokenbench[service]`), so `import tokenbench.verifier` stays light.
"""
