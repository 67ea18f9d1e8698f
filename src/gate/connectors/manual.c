/* manual: the connector for a data source snowgate cannot reach. Nothing runs: a person applies
 * an approved change and marks the request done, and at expiry the grant is marked expired with
 * a note saying who must remove it (governance/fulfilment.c). */
#include "gate/connectors/connectors.h"

const sg_connector sg_connector_manual = {
    .kind = "manual",
};
