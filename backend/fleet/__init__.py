"""The fleet: agents on other hosts, commanded through the broker alone (issue 20).

``key`` finds the shared fleet key, ``sign`` seals and checks envelopes, ``transport`` names the
exchanges and queues on the broker, ``agent`` serves one host, ``hosts`` is the panel's registry
of announces and samples, ``client`` sends a signed command and collects its replies.
"""
