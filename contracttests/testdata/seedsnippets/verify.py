# The API reference's Python (Flask) snippet from "Verify Signature", unchanged
# (only re-indented: the reference's text lost its indentation). Do not edit it
# to make a test pass: python_receiver.py fills in the real signing secret and
# the request plumbing, and CI runs it against real deliveries.

import hmac
import hashlib
from flask import request, abort
def verify_webhook():
    payload = request.get_data()
    signature = request.headers.get('X-Webhook-Signature')
    secret = 'whsec_seu_secret_aqui'
    expected = 'sha256=' + hmac.new(
        secret.encode(),
        payload,
        hashlib.sha256
    ).hexdigest()
    if hmac.compare_digest(expected, signature):
        # Assinatura valida - processar evento
        event = request.get_json()
        return event
    else:
        # Assinatura invalida - rejeitar
        abort(401)
