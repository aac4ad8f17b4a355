// Spectral custom function for the `iagente-error-response-uses-error-schema`
// rule in .spectral.yaml.
//
// Every 4xx/5xx/default response must serve `application/json` whose schema is
// literally `$ref: '#/components/schemas/Error'`, so all errors share one
// envelope that clients (and the generated Go types) can rely on.
//
// Why a custom function: the rule runs on the *unresolved* document
// (`resolved: false`) so it can see the literal `$ref`; but responses are
// usually themselves `$ref: '#/components/responses/X'`, and the built-in
// functions cannot follow such a reference. This follows local response
// references (possibly chained) inside the same document and then checks the
// media type. Remote references are reported, since the house style keeps the
// spec in one file.

function decodePointerToken(token) {
  return decodeURIComponent(token).replace(/~1/g, '/').replace(/~0/g, '~');
}

// Resolve a local JSON pointer ('#/a/b') against the raw document.
function lookup(root, ref) {
  let node = root;
  for (const raw of ref.slice(2).split('/')) {
    if (node === null || typeof node !== 'object') return undefined;
    const key = decodePointerToken(raw);
    if (!Object.prototype.hasOwnProperty.call(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

const ERROR_SCHEMA_REF = '#/components/schemas/Error';

export default function errorResponse(response, _options, context) {
  const root = context.document.data;
  const seen = new Set();
  const via = [];
  let target = response;

  while (target !== null && typeof target === 'object' && typeof target.$ref === 'string') {
    const ref = target.$ref;
    if (!ref.startsWith('#/')) {
      return [{ message: `error response must reference a response in this file, not "${ref}"` }];
    }
    if (seen.has(ref)) {
      return [{ message: `circular response reference "${ref}"` }];
    }
    seen.add(ref);
    via.push(ref);
    target = lookup(root, ref);
    if (target === undefined) {
      return [{ message: `error response reference "${ref}" does not resolve` }];
    }
  }

  const where = via.length > 0 ? ` (via ${via.join(' -> ')})` : '';
  if (target === null || typeof target !== 'object') {
    return [{ message: `error response must be an object${where}` }];
  }
  const content = target.content;
  const media = content && typeof content === 'object' ? content['application/json'] : undefined;
  if (media === undefined || media === null || typeof media !== 'object') {
    return [{ message: `error response must have "application/json" content${where}` }];
  }
  const schema = media.schema;
  const schemaRef = schema && typeof schema === 'object' ? schema.$ref : undefined;
  if (schemaRef !== ERROR_SCHEMA_REF) {
    const got = schemaRef !== undefined ? `"${schemaRef}"` : 'an inline schema';
    return [{ message: `error response "application/json" schema must be $ref "${ERROR_SCHEMA_REF}", got ${got}${where}` }];
  }
  return [];
}
