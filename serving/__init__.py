"""Serving: a trained policy out of the laboratory and behind HTTP, on the shop's own machine.

- :mod:`serving.artefact`: the artefact folder (model file, manifest, checksums) and its verification;
- :mod:`serving.export`: the ``export`` task, a trained policy into an artefact, checked for parity;
- :mod:`serving.ppo_onnx`: a MaskablePPO's action network to ONNX (torch; the export alone loads it);
- :mod:`serving.runtime`: the torch-free policies an artefact is served with;
- :mod:`serving.crm`: the CRM record a request carries, and its observation and guardrail mask,
  made by the simulator's own functions;
- :mod:`serving.decision_log`: the served decisions, durable before each response leaves;
- :mod:`serving.api`: the ``serve`` task, the HTTP service (FastAPI on uvicorn).

Serving builds on :mod:`sim`, :mod:`policies` and :mod:`bandits`, never on :mod:`experiments`,
whose tasks call it with their config sections.
"""
