// The API reference's Node snippet from "Verify Signature", unchanged (only
// re-indented: the reference's text lost its indentation). Do not edit it to
// make a test pass: node_receiver.js fills in the real signing secret and the
// request plumbing, and CI runs it against real deliveries.

const crypto = require('crypto');
function verifyWebhook(req) {
  const payload = req.rawBody; // Buffer do body
  const signature = req.headers['x-webhook-signature'];
  const secret = 'whsec_seu_secret_aqui';
  const expected = 'sha256=' + crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');
  if (crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    // Assinatura valida - processar evento
    const event = JSON.parse(payload);
    return event;
  } else {
    // Assinatura invalida - rejeitar
    throw new Error('Invalid signature');
  }
}
