"""Library code behind the real-key tools: discovery, getInfo explanation, trace, redaction."""
