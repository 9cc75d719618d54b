// Compiled by tests/e2e/types.test.mjs with `tsc --noEmit --strict`: the shipped types accept
// what the README shows and refuse what the clickscript would drop.
import type { ClickOptions } from '../../www/clickscript';

PT.event('purchase', { revenue: 25, plan: 'gold', first: true });
PT.event('quote_requested');
const txn: Promise<string | null> = PT.click({ pid: 7, subids: { sub1: 'a' }, source_id: 's', parameters: { offer: 'x' } });
const listed: ClickOptions = { subids: ['a', 'b'], transaction_id: '5f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11' };
window.PT.click(listed);
const empty: Promise<boolean> = PT.flush();
const gclid: string | null = PT.urlParameter('gclid');
const id: string | null = PT.transactionId();

// @ts-expect-error: event IDs are strings
PT.event(42);
// @ts-expect-error: free data is flat
PT.event('purchase', { nested: { a: 1 } });
// @ts-expect-error: revenue is a number
PT.event('purchase', { revenue: '25' });

export { txn, empty, gclid, id };
