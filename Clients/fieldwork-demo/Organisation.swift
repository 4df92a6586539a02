import Foundation

/// The reference customer of SPEC's introduction: a Zhejiang medical-device
/// distributor with 47 people in sales (28 reps, 9 academic specialists, 5 key-account
/// managers, 5 operations staff), the departments around them, 62 hospitals of level
/// two and above, and a catalogue of orthopaedic consumables and lab equipment.
/// Fixed data: the seed changes what happens, not who is there.
struct Organisation {
    struct Person {
        var id, name, department, region, supervisor: String
        var roles: [String]
    }

    struct Hospital {
        var id, registryCode, name, level, region, address: String
        var latitude, longitude: Double
        var departments: [String]
        var ownerRep: String
        var grade: String
        /// How readily this hospital buys, trials and attends events (0…1).
        var engagement: Double
        var isPrivate: Bool { name.contains("骨科医院") }
    }

    struct Product { var id, name, line: String }

    struct Region { var name: String; var latitude, longitude: Double; var hospitals: [(String, String)] }

    static let regions: [Region] = [
        Region(name: "杭州", latitude: 30.2741, longitude: 120.1551, hospitals: [
            ("浙江大学医学院附属第一医院", "三级甲等"), ("浙江大学医学院附属第二医院", "三级甲等"), ("浙江大学医学院附属邵逸夫医院", "三级甲等"),
            ("浙江省人民医院", "三级甲等"), ("杭州市第一人民医院", "三级甲等"), ("浙江省中医院", "三级甲等"),
            ("杭州市中医院", "三级甲等"), ("浙江省立同德医院", "三级甲等"), ("杭州市第三人民医院", "三级甲等"),
            ("杭州市红十字会医院", "三级甲等"), ("浙江医院", "三级甲等"), ("杭州市萧山区第一人民医院", "三级乙等"),
            ("杭州市余杭区第一人民医院", "三级乙等"), ("杭州市富阳区第一人民医院", "三级乙等"), ("杭州市西溪医院", "三级乙等"),
            ("杭州市临平区中医院", "二级甲等"), ("桐庐县第一人民医院", "二级甲等"), ("建德市第一人民医院", "二级甲等"),
        ]),
        Region(name: "宁波", latitude: 29.8683, longitude: 121.5440, hospitals: [
            ("宁波市第一医院", "三级甲等"), ("宁波市医疗中心李惠利医院", "三级甲等"), ("宁波大学附属第一医院", "三级甲等"),
            ("宁波市第二医院", "三级甲等"), ("宁波市中医院", "三级甲等"), ("宁波市第六医院", "三级甲等"),
            ("宁波大学附属人民医院", "三级乙等"), ("余姚市人民医院", "三级乙等"), ("慈溪市人民医院", "三级乙等"),
            ("宁波市北仑区人民医院", "三级乙等"), ("宁波市奉化区人民医院", "二级甲等"), ("宁海县第一医院", "二级甲等"),
            ("象山县第一人民医院", "二级甲等"), ("宁波市鄞州区第二医院", "二级甲等"),
        ]),
        Region(name: "绍兴", latitude: 30.0023, longitude: 120.5810, hospitals: [
            ("绍兴市人民医院", "三级甲等"), ("绍兴市中心医院", "三级乙等"), ("绍兴第二医院", "三级乙等"),
            ("绍兴市中医院", "三级甲等"), ("诸暨市人民医院", "三级乙等"), ("绍兴市上虞人民医院", "三级乙等"),
            ("嵊州市人民医院", "二级甲等"), ("新昌县人民医院", "二级甲等"), ("绍兴文理学院附属医院", "三级乙等"),
            ("绍兴华康骨科医院", "二级甲等"),
        ]),
        Region(name: "温州", latitude: 27.9943, longitude: 120.6994, hospitals: [
            ("温州医科大学附属第一医院", "三级甲等"), ("温州医科大学附属第二医院", "三级甲等"), ("温州市人民医院", "三级甲等"),
            ("温州市中心医院", "三级甲等"), ("温州市中医院", "三级甲等"), ("瑞安市人民医院", "三级乙等"),
            ("乐清市人民医院", "三级乙等"), ("温州市第三人民医院", "三级乙等"), ("苍南县人民医院", "二级甲等"),
            ("永嘉县人民医院", "二级甲等"), ("平阳县人民医院", "二级甲等"), ("温州市龙湾区第一人民医院", "二级甲等"),
        ]),
        Region(name: "嘉兴", latitude: 30.7469, longitude: 120.7555, hospitals: [
            ("嘉兴市第一医院", "三级甲等"), ("嘉兴市第二医院", "三级甲等"), ("嘉兴市中医医院", "三级甲等"),
            ("海宁市人民医院", "三级乙等"), ("桐乡市第一人民医院", "三级乙等"), ("平湖市第一人民医院", "二级甲等"),
            ("嘉善县第一人民医院", "二级甲等"), ("海盐县人民医院", "二级甲等"),
        ]),
    ]

    /// Reps per region: 8 + 6 + 5 + 5 + 4 = 28.
    static let repsPerRegion = ["杭州": 8, "宁波": 6, "绍兴": 5, "温州": 5, "嘉兴": 4]
    static let regionCodes = ["杭州": "ZJ", "宁波": "NB", "绍兴": "SX", "温州": "WZ", "嘉兴": "JX"]
    static let registryPrefixes = ["杭州": "330100", "宁波": "330200", "绍兴": "330600", "温州": "330300", "嘉兴": "330400"]
    static let roads = ["解放路", "中山路", "人民路", "建设路", "文化路", "健康路", "学院路", "新华路", "东风路", "环城北路", "凤起路"]

    static let products: [Product] = [
        Product(id: "SP-NEW-01", name: "新型脊柱融合器", line: "spine"),
        Product(id: "SP-110", name: "椎弓根螺钉系统", line: "spine"),
        Product(id: "SP-120", name: "颈椎前路钢板", line: "spine"),
        Product(id: "TR-201", name: "创伤锁定接骨板", line: "trauma"),
        Product(id: "TR-210", name: "髓内钉系统", line: "trauma"),
        Product(id: "JT-301", name: "人工髋关节假体", line: "joints"),
        Product(id: "JT-310", name: "人工膝关节假体", line: "joints"),
        Product(id: "LB-401", name: "全自动生化分析仪", line: "lab"),
        Product(id: "LB-410", name: "化学发光免疫分析仪", line: "lab"),
    ]
    static var productLines: [String] { ["spine", "trauma", "joints", "lab"] }

    let people: [Person]
    let hospitals: [Hospital]

    init() {
        var names = NameMaker()
        var people: [Person] = [
            Person(id: "A0001", name: "系统管理员", department: "management", region: "杭州", supervisor: "", roles: ["admin"]),
            Person(id: "GM01", name: "陈志远", department: "management", region: "杭州", supervisor: "", roles: ["executive"]),
            Person(id: "D3001", name: "王强", department: "management", region: "杭州", supervisor: "GM01", roles: ["director"]),
            Person(id: "FN01", name: "钱芳", department: "finance", region: "杭州", supervisor: "GM01", roles: ["dept_head"]),
            Person(id: "FN02", name: names.next(), department: "finance", region: "杭州", supervisor: "FN01", roles: ["ops"]),
            Person(id: "MK01", name: "赵敏", department: "marketing", region: "杭州", supervisor: "D3001", roles: ["dept_head"]),
            Person(id: "MK02", name: "孙悦", department: "marketing", region: "杭州", supervisor: "MK01", roles: ["ops"]),
            Person(id: "LG01", name: "周杰", department: "logistics", region: "杭州", supervisor: "D3001", roles: ["dept_head"]),
            Person(id: "LG02", name: "吴磊", department: "logistics", region: "杭州", supervisor: "LG01", roles: ["ops"]),
            Person(id: "CP01", name: "郑洁", department: "compliance", region: "杭州", supervisor: "D3001", roles: ["dept_head"]),
            Person(id: "CP02", name: "冯涛", department: "compliance", region: "杭州", supervisor: "CP01", roles: ["ops"]),
        ]
        var repNumber = 1001
        var repsByRegion: [String: [String]] = [:]
        for (index, region) in Self.regions.enumerated() {
            let manager = "M\(2001 + index)"
            people.append(Person(id: manager, name: index == 0 ? "李娜" : names.next(), department: "sales", region: region.name,
                                 supervisor: "D3001", roles: ["manager"]))
            for _ in 0..<Self.repsPerRegion[region.name]! {
                let id = "E\(repNumber)"
                people.append(Person(id: id, name: repNumber == 1001 ? "张伟" : names.next(), department: "sales", region: region.name,
                                     supervisor: manager, roles: ["rep"]))
                repsByRegion[region.name, default: []].append(id)
                repNumber += 1
            }
            // One operations supervisor per region: the plan-shortfall rule alerts the rep's region's.
            people.append(Person(id: "O\(4001 + index)", name: index == 0 ? "陈静" : names.next(), department: "operations",
                                 region: region.name, supervisor: "D3001", roles: ["ops"]))
        }
        for n in 1...9 {
            people.append(Person(id: "AC0\(n)", name: names.next(), department: "academic", region: Self.regions[(n - 1) % 5].name,
                                 supervisor: n == 1 ? "D3001" : "AC01", roles: n == 1 ? ["academic", "dept_head"] : ["academic"]))
        }
        for n in 1...5 {
            people.append(Person(id: "K0\(n)", name: names.next(), department: "key_account", region: Self.regions[n - 1].name,
                                 supervisor: "D3001", roles: ["kam"]))
        }
        self.people = people

        var hospitals: [Hospital] = []
        for region in Self.regions {
            let reps = repsByRegion[region.name]!
            let code = Self.regionCodes[region.name]!
            for (index, (name, level)) in region.hospitals.enumerated() {
                let number = String(format: "%03d", index + 1)
                // A fixed spread around the city centre (±0.08°), the same on every run.
                let angle = Double(index) * 2.399963
                let distance = 0.012 + 0.006 * Double(index % 12)
                var latitude = region.latitude + distance * sin(angle)
                var longitude = region.longitude + distance * cos(angle)
                if name == "浙江大学医学院附属第一医院" { (latitude, longitude) = (30.2527, 120.1780) }
                if name == "浙江大学医学院附属第二医院" { (latitude, longitude) = (30.2566, 120.1735) }
                let grade = level == "三级甲等" ? (index < 3 ? "A" : "B") : (level == "三级乙等" ? "B" : "C")
                let departments = name.contains("骨科") ? ["骨科", "器械科"] : (index % 3 == 2 ? ["骨科", "检验科"] : ["骨科", "检验科", "器械科"])
                hospitals.append(Hospital(
                    id: "H-\(code)-\(number)", registryCode: "\(Self.registryPrefixes[region.name]!)-\(String(format: "%04d", index + 1))",
                    name: name, level: level, region: region.name,
                    address: "\(region.name)市\(Self.roads[index % Self.roads.count])\(18 + index * 7)号",
                    latitude: (latitude * 10000).rounded() / 10000, longitude: (longitude * 10000).rounded() / 10000,
                    departments: departments, ownerRep: reps[index % reps.count], grade: grade,
                    engagement: level == "三级甲等" ? 0.75 - Double(index % 4) * 0.1 : 0.45 - Double(index % 3) * 0.1))
            }
        }
        self.hospitals = hospitals
    }

    var reps: [Person] { people.filter { $0.roles.contains("rep") } }

    func hospitals(ownedBy rep: String) -> [Hospital] { hospitals.filter { $0.ownerRep == rep } }

    // MARK: CSV, as the visits service imports it

    var peopleCSV: String {
        var lines = ["id,name,phone,wecom_user_id,department,region,supervisor_id,roles"]
        for (index, person) in people.enumerated() {
            lines.append([person.id, person.name, "138\(String(format: "%08d", 10_000 + index))", person.id.lowercased(),
                          person.department, person.region, person.supervisor, person.roles.joined(separator: "|")].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var customersCSV: String {
        var lines = ["id,registry_code,name,level,region,address,latitude,longitude,fence_radius_m,departments,owner_rep_id,grade,contacts"]
        var names = NameMaker(offset: 97)
        for hospital in hospitals {
            let contact = "\(names.next())/器械科主任/器械科|\(names.next())/骨科主任/骨科"
            lines.append([hospital.id, hospital.registryCode, hospital.name, hospital.level, hospital.region, hospital.address,
                          String(hospital.latitude), String(hospital.longitude), "300", hospital.departments.joined(separator: "|"),
                          hospital.ownerRep, hospital.grade, contact].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var productsCSV: String {
        (["id,name,product_line"] + Self.products.map { "\($0.id),\($0.name),\($0.line)" }).joined(separator: "\n") + "\n"
    }

    /// Department codes, names and heads.
    static let departments: [(code: String, name: String, head: String)] = [
        ("management", "总经办", "GM01"), ("sales", "销售部", "D3001"), ("academic", "学术部", "AC01"),
        ("key_account", "大客户部", "D3001"), ("operations", "运营部", "O4001"), ("marketing", "市场部", "MK01"),
        ("logistics", "物流部", "LG01"), ("compliance", "合规部", "CP01"), ("finance", "财务部", "FN01"),
    ]
}

/// Chinese names from common surnames and given names, in a fixed order.
struct NameMaker {
    private static let surnames = Array("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
    private static let given = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "霞",
                                "平", "刚", "桂英", "晨", "浩", "宇", "欣怡", "子轩", "佳琪", "俊杰", "雨桐", "志强"]
    private var n: Int

    init(offset: Int = 0) { n = offset }

    mutating func next() -> String {
        defer { n += 1 }
        return String(Self.surnames[(n * 7) % Self.surnames.count]) + Self.given[(n * 11 + n / 3) % Self.given.count]
    }
}
