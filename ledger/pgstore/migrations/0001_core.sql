-- Migration 1: the ledger's tables. There are no foreign keys between
-- entries, fills and transactions: they cost more than half the write
-- throughput, and what they would guarantee the ledger asserts as it
-- books and Store.Check verifies (every entry's transaction and account,
-- every fill's transaction). Amounts are NUMERIC (exact, any
-- precision); times timestamptz (UTC) with the exact nanoseconds beside
-- them where ordering depends on it.

-- Every event the ledger applied, as received (the exact JSON bytes), so
-- the in-memory ledger is rebuilt from here at start and an auditor can
-- see what each row came from.
CREATE TABLE ledger_events (
    stream     text        NOT NULL,
    seq        bigint      NOT NULL CHECK (seq > 0),
    subject    text        NOT NULL,
    msg_id     text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('fill', 'trade', 'external')),
    body       bytea       NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, seq)
);

-- The highest stream sequence committed, per stream: the consumer resumes
-- after it and the lag is measured from it.
CREATE TABLE consumer_state (
    stream     text        PRIMARY KEY,
    last_seq   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    name  text PRIMARY KEY,          -- assets:binance:BTC
    kind  text NOT NULL CHECK (kind IN ('holdings', 'fees', 'trading', 'external')),
    venue text NOT NULL,
    asset text NOT NULL
);

-- One balanced transaction per fill, gas payment or external transfer;
-- id is the idempotency key (fill:<venue>:<venue_fill_id>, ...).
CREATE TABLE transactions (
    id         text        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('fill', 'gas', 'external')),
    ts         timestamptz NOT NULL,
    venue      text        NOT NULL,
    trade_id   text,
    memo       text        NOT NULL,
    gas_quote  numeric,    -- gas: its value in the trade's quote asset
    stream_seq bigint      NOT NULL
);

CREATE TABLE entries (
    tx_id   text     NOT NULL,
    n       smallint NOT NULL,
    account text     NOT NULL,
    asset   text     NOT NULL,
    amount  numeric  NOT NULL CHECK (amount <> 0),  -- + debit, − credit
    PRIMARY KEY (tx_id, n)
);

CREATE TABLE balances (
    account    text        PRIMARY KEY REFERENCES accounts (name),
    asset      text        NOT NULL,
    balance    numeric     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A venue fill appears exactly once, ever.
CREATE TABLE fills (
    venue           text        NOT NULL,
    venue_fill_id   text        NOT NULL,
    client_order_id text        NOT NULL,
    trade_id        text,
    symbol          text        NOT NULL,
    base            text        NOT NULL,
    quote           text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('buy', 'sell')),
    price           numeric     NOT NULL CHECK (price > 0),
    qty             numeric     NOT NULL CHECK (qty > 0),
    fee             numeric     NOT NULL,
    fee_asset       text        NOT NULL,
    fee_quote_rate  numeric     NOT NULL,
    fee_quote       numeric     NOT NULL,
    ts              timestamptz NOT NULL,
    ts_unix_ns      bigint      NOT NULL,
    tx_id           text        NOT NULL,
    stream_seq      bigint      NOT NULL,
    PRIMARY KEY (venue, venue_fill_id)
);

-- One row per arbitrage trade: the latest trade event's fields and the
-- ledger's PnL computed from the trade's fills and gas.
CREATE TABLE trades (
    id                          text PRIMARY KEY,
    plan_id                     text,
    symbol                      text        NOT NULL,
    quote                       text        NOT NULL,
    buy_venue                   text,
    sell_venue                  text,
    state                       text,       -- NULL until the trade event arrived (fills only)
    qty                         numeric,
    expected_net_quote          numeric     NOT NULL DEFAULT 0,
    reported_realized_net_quote numeric     NOT NULL DEFAULT 0,  -- the executor's own figure
    reported_residual_base      numeric     NOT NULL DEFAULT 0,
    opened_at                   timestamptz,
    closed_at                   timestamptz,
    stream_seq                  bigint      NOT NULL,
    fills                       integer     NOT NULL,
    bought_base                 numeric     NOT NULL,
    sold_base                   numeric     NOT NULL,
    buy_quote                   numeric     NOT NULL,
    sell_quote                  numeric     NOT NULL,
    gross_quote                 numeric     NOT NULL,
    fees_quote                  numeric     NOT NULL,
    gas_quote                   numeric     NOT NULL,
    net_quote                   numeric     NOT NULL,
    residual_base               numeric     NOT NULL,
    residual_cost_quote         numeric     NOT NULL,
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- The orders of trades (the trade events' legs), latest state.
CREATE TABLE orders (
    venue           text    NOT NULL,
    client_order_id text    NOT NULL,
    trade_id        text    NOT NULL,
    side            text    NOT NULL,
    purpose         text    NOT NULL,
    venue_order_id  text    NOT NULL,
    price           numeric NOT NULL,
    qty             numeric NOT NULL,
    filled_qty      numeric NOT NULL,
    avg_price       numeric NOT NULL,
    fee             numeric NOT NULL,
    fee_asset       text    NOT NULL,
    status          text    NOT NULL,
    gas_quote       numeric NOT NULL,
    gas_asset       text    NOT NULL,
    gas             numeric NOT NULL,
    PRIMARY KEY (venue, client_order_id)
);
CREATE INDEX orders_trade_idx ON orders (trade_id);
