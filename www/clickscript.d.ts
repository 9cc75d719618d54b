// Types of the Clickscript JS API (`window.PT`), for pages written in TypeScript:
//   /// <reference path="clickscript.d.ts" />   or copy this file beside your sources.

/** Free data of an event. `revenue` is the event's revenue; other values must be flat. */
export interface EventProps {
  revenue?: number;
  [field: string]: string | number | boolean | undefined;
}

/** What `PT.click` registers, as the platform's click script takes it. */
export interface ClickOptions {
  pid?: string | number;
  /** Campaign ID; the tag's own campaign is used. */
  cid?: string;
  source_id?: string | number;
  /** `{sub1: 'a', ...}`, or a list taken as sub1, sub2, ... */
  subids?: Record<string, string | number> | Array<string | number>;
  /** Resume this transaction (a UUID) instead of the page's own. */
  transaction_id?: string;
  /** More attribution parameters. */
  parameters?: Record<string, string | number>;
}

export interface Clickscript {
  /** Fires a configured custom or system event. Never throws; an unknown ID is logged in debug mode. */
  event(eventId: string, props?: EventProps): void;
  /** Registers a click (Base Event and Base Click Sold once per lead); resolves to the transaction ID. */
  click(options?: ClickOptions): Promise<string | null>;
  /** A query parameter of the page's URL, decoded; null when absent. */
  urlParameter(name: string): string | null;
  /** The lead's transaction ID; null before the lead exists. */
  transactionId(): string | null;
  /** `url` with the transaction ID and the page's sub parameters added when it links to one
   * of the campaign's offer domains; as given otherwise, and before the lead exists. */
  decorate(url: string): string;
  /** Resolves true once the outbox is empty, false when a delivery attempt failed. */
  flush(): Promise<boolean>;
  /** Resolves with the transaction ID once the lead exists and the certificate fields on the
   * page (TrustedForm, Jornaya LeadiD) are filled; after 5 s at most, whatever holds it. */
  ready(): Promise<string | null>;
  /** Stops all capture for the visitor on this site, kept across visits (a first-party cookie,
   * 400 days); what is queued is dropped, not sent. Resolves once it has taken effect. */
  optOut(): Promise<void>;
  /** Resumes capture after `optOut()`. */
  optIn(): Promise<void>;
  /** True once the extension (the campaign's triggers, forms' lead capture, offer links) is installed; absent before. */
  readonly triggers?: boolean;
}

declare global {
  interface Window {
    PT: Clickscript;
  }
  const PT: Clickscript;
}
