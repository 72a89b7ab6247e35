import { inject, vi } from 'vitest';
import { LocalStack } from '../../local/stack';

// The integration tests start their stack through the harness, which starts embedded emulators
// unless given an endpoint; here every stack without one of its own gets LocalStack's.
const endpoint = inject('localstackEndpoint');
const start = LocalStack.start.bind(LocalStack);
vi.spyOn(LocalStack, 'start').mockImplementation((opts = {}) =>
  start({ ...opts, endpoint: opts.endpoint ?? endpoint }),
);
