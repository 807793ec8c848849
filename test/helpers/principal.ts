import type { Principal } from '../../src/core/auth.js';

/** A principal of `tenant` with `roles` (reader by default) and no scopes or claims. */
export const principal = (
  tenant: string | undefined,
  roles: string[] = ['reader'],
  subject = `user-${tenant}`,
): Principal => ({
  subject,
  tenant,
  roles,
  scopes: [],
  claims: {},
});
