// URL templates, with the same rules as the collector (crates/enrich/src/scrub.rs): origin
// kept, query and fragment dropped, id-like path segments replaced by placeholders.

function seg(s: string): string {
  if (!s) return s;
  if (/^\d+$/.test(s)) return ':id';
  if (/^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i.test(s)) return ':uuid';
  if (s.length >= 12 && /^[\da-f]+$/i.test(s)) return ':hash';
  if (s.length >= 16 && /^[\w-]+$/.test(s) && (s.match(/\d/g) || []).length >= 3) return ':token';
  if (s.indexOf('@') >= 0) return ':email';
  return s;
}

/** `https://api.example.com/users/123?x=1` → `https://api.example.com/users/:id`. */
export function urlTemplate(url: string): string {
  const u = url.split('#')[0].split('?')[0];
  let origin = '';
  let path = u;
  const i = u.indexOf('://');
  if (i >= 0) {
    const j = u.indexOf('/', i + 3);
    origin = j < 0 ? u : u.slice(0, j);
    path = j < 0 ? '/' : u.slice(j);
  }
  return origin + path.split('/').map(seg).join('/');
}
