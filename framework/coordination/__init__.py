"""ETSI NFV-SOL 002 VNF LCM coordination: the client, coordinate scripts, the rolling update
and a reference coordination server."""
