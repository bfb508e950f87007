package recording

import "arb/exchange"

func exchangeVenue(v uint8) exchange.VenueID { return exchange.VenueID(v) }
